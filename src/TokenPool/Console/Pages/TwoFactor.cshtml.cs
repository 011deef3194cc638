using Microsoft.AspNetCore.Mvc;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

/// <summary>
/// Setting up, using and turning off two-factor sign-in with an authenticator app: a QR code and the secret in
/// text, confirmed by a code and the password; ten recovery codes shown once; turning it off or making new
/// recovery codes needs the password and a code.
/// </summary>
internal sealed class TwoFactorModel(ConsoleSession session, SessionStore sessions, TwoFactor twoFactor, SecurityPolicies policies) : ConsolePageModel
{
    public override bool AllowedBeforeEnrolment => true;

    /// <summary>The secret being set up (for the QR code and the text), while two-factor sign-in is off.</summary>
    public TotpEnrolment? Enrolment { get; private set; }

    /// <summary>Recovery codes just made, shown this once.</summary>
    public IReadOnlyList<string>? RecoveryCodes { get; private set; }

    /// <summary>An admin sent here because admins must sign in with two factors.</summary>
    public bool Required { get; private set; }

    public void OnGet(string? required)
    {
        Required = required is not null || HttpContext.Items.ContainsKey(ConsoleSession.MustEnrolItem);
        Enrolment = CurrentAccount.HasTotp ? null : twoFactor.Begin(CurrentAccount);
    }

    public async Task<IActionResult> OnPostEnableAsync(string? pending, string? code, string? password, CancellationToken cancellationToken)
    {
        var secret = twoFactor.PendingSecret(AccountId, pending);
        if (CurrentAccount.HasTotp)
        {
            return LocalRedirect("/console/account/two-factor");
        }

        if (secret is null)
        {
            Error = "That set-up took too long. Scan the new QR code and try again.";
        }
        else if (await session.ConfirmAsync(HttpContext, password, null, "That password is not right. Try again.", cancellationToken) is { } error)
        {
            Error = error;
        }
        else if (await twoFactor.EnableAsync(AccountId, secret, code, ClientAddress, cancellationToken) is { } codes)
        {
            RecoveryCodes = codes;
            await UpgradeSessionAsync(cancellationToken);
            HttpContext.Items.Remove(ConsoleSession.MustEnrolItem);
            Notice = "Two-factor sign-in is on.";
            return Page();
        }
        else
        {
            Error = "That code is not right. Enter the six-digit code the app shows for TokenPool now.";
        }

        Enrolment = twoFactor.Begin(CurrentAccount);
        return Page();
    }

    /// <summary>For a session signed in before two-factor sign-in was required: a code upgrades it.</summary>
    public async Task<IActionResult> OnPostConfirmAsync(string? code, CancellationToken cancellationToken)
    {
        if (await session.CheckSecondFactorAsync(CurrentAccount, code, recovery: false, HttpContext, cancellationToken) is { } error)
        {
            Error = error;
            Required = true;
            return Page();
        }

        await UpgradeSessionAsync(cancellationToken);
        return LocalRedirect("/console/api-keys");
    }

    public async Task<IActionResult> OnPostDisableAsync(string? password, string? code, CancellationToken cancellationToken)
    {
        if (CurrentAccount.Role == AccountRole.Admin && (await policies.GetAsync(cancellationToken)).RequireTwoFactorForAdmins)
        {
            Error = "Admins must keep two-factor sign-in on: this TokenPool requires it (Users → Sign-in policy).";
            return Page();
        }

        if (await session.ConfirmAsync(HttpContext, password, code, "That password is not right. Try again.", cancellationToken) is { } error)
        {
            Error = error;
            return Page();
        }

        await twoFactor.DisableAsync(AccountId, ClientAddress, cancellationToken);
        return LocalRedirect("/console/account?notice=two-factor-off");
    }

    public async Task<IActionResult> OnPostRenewAsync(string? password, string? code, CancellationToken cancellationToken)
    {
        if (await session.ConfirmAsync(HttpContext, password, code, "That password is not right. Try again.", cancellationToken) is { } error)
        {
            Error = error;
            return Page();
        }

        RecoveryCodes = await twoFactor.RenewRecoveryCodesAsync(AccountId, ClientAddress, cancellationToken);
        Notice = "New recovery codes are made; the old ones no longer work.";
        return Page();
    }

    private async Task UpgradeSessionAsync(CancellationToken cancellationToken)
    {
        if (ConsoleSession.CurrentSession(HttpContext) is { } current && !SignInMethods.IsStrong(current.Method))
        {
            await sessions.ConfirmAsync(current, SignInMethods.PasswordAndCode, cancellationToken);
        }
    }
}
