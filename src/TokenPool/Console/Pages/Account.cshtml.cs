using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;
using TokenPool.Accounts;
using TokenPool.Keys;

namespace TokenPool.WebConsole.Pages;

/// <summary>The account page: password, signed-in sessions, two-factor sign-in, passkeys and the activity log.</summary>
internal sealed class AccountModel(
    AccountService accounts,
    ApiKeyService keys,
    ConsoleSession session,
    SessionStore sessions,
    PasskeyService passkeys,
    PasskeyCeremony ceremony,
    TwoFactor twoFactor) : ConsolePageModel
{
    public List<AuditEvent> Events { get; private set; } = [];

    public List<AccountSession> Sessions { get; private set; } = [];

    public List<Passkey> Passkeys { get; private set; } = [];

    public int RecoveryCodesLeft { get; private set; }

    public long? CurrentSessionId => ConsoleSession.CurrentSession(HttpContext)?.Id;

    public bool NeedsCode => CurrentAccount.HasTotp;

    public static string Describe(string kind) => kind switch
    {
        AuditKinds.KeyCreated => "Key created",
        AuditKinds.KeyRevealed => "Key revealed",
        AuditKinds.KeyDeleted => "Key deleted",
        AuditKinds.KeyRotated => "Key rotated",
        AuditKinds.KeyUpdated => "Key settings changed",
        AuditKinds.KeyLimitsChanged => "Key request limits changed",
        AuditKinds.SignedIn => "Signed in",
        AuditKinds.PasswordChanged => "Password changed",
        AuditKinds.PasswordReset => "Password reset by email link",
        AuditKinds.PasswordResetRequested => "Password reset link sent",
        AuditKinds.SignedOut => "Signed out",
        AuditKinds.PasswordSetByOperator => "Password set by the operator",
        AuditKinds.SessionEnded => "Session signed out",
        AuditKinds.OtherSessionsEnded => "Other sessions signed out",
        AuditKinds.SignedOutEverywhere => "Signed out everywhere",
        AuditKinds.EmailVerified => "Email confirmed",
        AuditKinds.TwoFactorEnabled => "Two-factor sign-in turned on",
        AuditKinds.TwoFactorDisabled => "Two-factor sign-in turned off",
        AuditKinds.RecoveryCodesRenewed => "New recovery codes made",
        AuditKinds.RecoveryCodeUsed => "Recovery code used",
        AuditKinds.PasskeyAdded => "Passkey added",
        AuditKinds.PasskeyRenamed => "Passkey renamed",
        AuditKinds.PasskeyRemoved => "Passkey removed",
        AuditKinds.SecurityPolicyChanged => "Sign-in policy changed",
        AuditKinds.CreditChanged => "Credit changed",
        AuditKinds.AccountDisabled => "Account disabled",
        AuditKinds.AccountEnabled => "Account enabled",
        AuditKinds.RoleChanged => "Role changed",
        AuditKinds.AccountLimitsChanged => "Account request limits changed",
        AuditKinds.UpstreamKeyEnabled => "Upstream key enabled",
        AuditKinds.UpstreamKeyDisabled => "Upstream key disabled",
        AuditKinds.UpstreamKeyReset => "Upstream key's circuit and cool-down reset",
        AuditKinds.ModelAdded => "Model added",
        AuditKinds.ModelPriceChanged => "Model prices changed",
        _ => kind,
    };

    /// <summary>A short name for the browser behind a user agent: "Chrome on Linux".</summary>
    public static string Browser(string? userAgent)
    {
        if (string.IsNullOrWhiteSpace(userAgent))
        {
            return "Unknown browser";
        }

        string Has(params (string Token, string Name)[] options) =>
            options.FirstOrDefault(o => userAgent.Contains(o.Token, StringComparison.OrdinalIgnoreCase)).Name ?? "";
        var browser = Has(("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("HeadlessChrome", "Headless Chrome"), ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("curl/", "curl"));
        var system = Has(("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"));
        return (browser, system) switch
        {
            ("", "") => "Other browser",
            (_, "") => browser,
            ("", _) => "Browser on " + system,
            _ => $"{browser} on {system}",
        };
    }

    public async Task OnGetAsync(string? notice, CancellationToken cancellationToken)
    {
        Notice = notice switch
        {
            "two-factor-on" => "Two-factor sign-in is on. Signing in now asks for a code from your authenticator app.",
            "two-factor-off" => "Two-factor sign-in is off.",
            "passkey-added" => "The passkey is added. Use \"Sign in with a passkey\" on the sign-in page.",
            _ => null,
        };
        await LoadAsync(cancellationToken);
    }

    public async Task<IActionResult> OnPostPasswordAsync(string? current, string? code, string? newPassword, string? confirm, CancellationToken cancellationToken)
    {
        if (newPassword != confirm)
        {
            Error = "The two new passwords are not the same. Type them again.";
        }
        else if (await session.ConfirmAsync(HttpContext, current, code, "Your current password is not right. Try again.", cancellationToken) is { } error)
        {
            Error = error;
        }
        else
        {
            try
            {
                var method = ConsoleSession.CurrentSession(HttpContext)?.Method ?? SignInMethods.Password;
                var account = await accounts.SetPasswordAsync(AccountId, newPassword ?? "", null, AuditKinds.PasswordChanged, ClientAddress, cancellationToken);
                await HttpContext.SignOutAsync(ConsoleSession.Scheme);
                await session.SignInAsync(HttpContext, account, method, cancellationToken);
                Notice = "Your password is changed. Every other session of this account is signed out.";
            }
            catch (AccountActionException failure)
            {
                Error = failure.Message;
            }
        }

        await LoadAsync(cancellationToken);
        return Page();
    }

    /// <summary>Signs out one session (this one included), at once: its cookie stops working on its next request.</summary>
    public async Task<IActionResult> OnPostEndSessionAsync(long sessionId, CancellationToken cancellationToken)
    {
        if (sessionId == CurrentSessionId)
        {
            await session.SignOutAsync(HttpContext, cancellationToken);
            await accounts.RecordAsync(AccountId, AuditKinds.SessionEnded, "this session", ClientAddress, cancellationToken);
            return LocalRedirect("/console/sign-in?signedOut=1");
        }

        if (await sessions.EndAsync(AccountId, sessionId, cancellationToken))
        {
            await accounts.RecordAsync(AccountId, AuditKinds.SessionEnded, $"session {sessionId}", ClientAddress, cancellationToken);
            Notice = "That session is signed out.";
        }

        await LoadAsync(cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnPostEndOthersAsync(CancellationToken cancellationToken)
    {
        var ended = await sessions.EndAllAsync(AccountId, CurrentSessionId, cancellationToken);
        await accounts.RecordAsync(AccountId, AuditKinds.OtherSessionsEnded, $"{ended} signed out", ClientAddress, cancellationToken);
        Notice = ended == 1 ? "1 other session is signed out." : $"{ended} other sessions are signed out.";
        await LoadAsync(cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnPostEndAllAsync(CancellationToken cancellationToken)
    {
        await sessions.EndAllAsync(AccountId, null, cancellationToken);
        await accounts.RecordAsync(AccountId, AuditKinds.SignedOutEverywhere, null, ClientAddress, cancellationToken);
        await HttpContext.SignOutAsync(ConsoleSession.Scheme);
        return LocalRedirect("/console/sign-in?signedOut=1");
    }

    /// <summary>Starts adding a passkey, after the password (and code) are confirmed: the options for <c>navigator.credentials.create</c>.</summary>
    public async Task<IActionResult> OnPostPasskeyOptionsAsync(string? password, string? code, CancellationToken cancellationToken)
    {
        if (await session.ConfirmAsync(HttpContext, password, code, "That password is not right. Try again.", cancellationToken) is { } error)
        {
            return new JsonResult(new { error }) { StatusCode = StatusCodes.Status400BadRequest };
        }

        try
        {
            var options = await passkeys.RegistrationOptionsAsync(CurrentAccount, ceremony.Site(HttpContext), cancellationToken);
            ceremony.Begin(HttpContext, "add:" + AccountId, options);
            return Content(options, "application/json");
        }
        catch (AccountActionException failure)
        {
            return new JsonResult(new { error = failure.Message }) { StatusCode = StatusCodes.Status400BadRequest };
        }
    }

    /// <summary>Finishes adding a passkey with the browser's answer.</summary>
    public async Task<IActionResult> OnPostPasskeyAsync(string? credential, string? name, CancellationToken cancellationToken)
    {
        var options = ceremony.Finish(HttpContext, "add:" + AccountId);
        if (options is null || credential is null)
        {
            return new JsonResult(new { error = "The passkey request expired. Start again." }) { StatusCode = StatusCodes.Status400BadRequest };
        }

        try
        {
            var added = await passkeys.RegisterAsync(CurrentAccount, ceremony.Site(HttpContext), options, credential, name, ClientAddress, cancellationToken);
            return new JsonResult(new { redirect = "/console/account?notice=passkey-added#passkeys" });
        }
        catch (AccountActionException failure)
        {
            return new JsonResult(new { error = failure.Message }) { StatusCode = StatusCodes.Status400BadRequest };
        }
    }

    public async Task<IActionResult> OnPostRenamePasskeyAsync(long passkeyId, string? name, CancellationToken cancellationToken)
    {
        try
        {
            Notice = await passkeys.RenameAsync(AccountId, passkeyId, name, ClientAddress, cancellationToken) ? "The passkey is renamed." : null;
        }
        catch (AccountActionException failure)
        {
            Error = failure.Message;
        }

        await LoadAsync(cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnPostRemovePasskeyAsync(long passkeyId, CancellationToken cancellationToken)
    {
        Notice = await passkeys.RemoveAsync(AccountId, passkeyId, ClientAddress, cancellationToken) ? "The passkey is removed: it no longer signs in to this account." : null;
        await LoadAsync(cancellationToken);
        return Page();
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        Events = await keys.AuditLogAsync(AccountId, 100, cancellationToken);
        Sessions = await sessions.ListAsync(AccountId, cancellationToken);
        Passkeys = await passkeys.ListAsync(AccountId, cancellationToken);
        RecoveryCodesLeft = CurrentAccount.HasTotp ? await twoFactor.RecoveryCodesLeftAsync(AccountId, cancellationToken) : 0;
    }
}
