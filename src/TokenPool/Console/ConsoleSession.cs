using System.Globalization;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TokenPool.Accounts;
using TokenPool.Data;

namespace TokenPool.WebConsole;

/// <summary>The outcome of a password check: the account when it matched, else the message to show and whether checks are paused.</summary>
internal sealed record PasswordCheck(Account? Account, string? Error, bool Paused = false);

/// <summary>
/// Console sessions. A session is server-side: the encrypted cookie carries the account id and a random token,
/// and the store's <see cref="AccountSession"/> row (keyed by the token's hash) must exist for the cookie to
/// work, so signing out, a password change or reset, disabling the account and "sign out" on the Account page
/// end a session at once, whoever holds a copy of its cookie.
/// <para>
/// Signing in: 1. the password is checked through <see cref="SignInThrottle"/> (per address and per account,
/// or per browser when the browser is known to the account); 2. an account with an authenticator app is sent
/// to the code page (<see cref="PendingSignIn"/>); 3. a session row and its cookie are made, the browser is
/// remembered (<see cref="KnownDevices"/>) and the sign-in goes in the activity log.
/// </para>
/// </summary>
internal sealed partial class ConsoleSession(
    AccountService accounts,
    SessionStore sessions,
    TwoFactor twoFactor,
    SignInThrottle throttle,
    KnownDevices devices,
    PendingSignIn pending,
    IDbContextFactory<TokenPoolDb> dbFactory,
    IOptions<ConsoleOptions> options,
    TimeProvider time,
    ILogger<ConsoleSession> logger)
{
    public const string Scheme = CookieAuthenticationDefaults.AuthenticationScheme;
    public const string AdminPolicy = "console-admin";
    public const string StampClaim = "tp:stamp";
    public const string SessionClaim = "tp:session";
    public const string CurrentAccountItem = "tp:account";
    public const string CurrentSessionItem = "tp:session";
    public const string MustEnrolItem = "tp:must-enrol";
    public const int MaxEmailLength = 320;

    public static long AccountId(ClaimsPrincipal user) =>
        long.Parse(user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "0", CultureInfo.InvariantCulture);

    /// <summary>The signed-in account, as loaded when the cookie was validated for this request.</summary>
    public static Account Current(HttpContext context) =>
        context.Items[CurrentAccountItem] as Account ?? throw new InvalidOperationException("No signed-in account.");

    /// <summary>The request's session row, as loaded when the cookie was validated.</summary>
    public static AccountSession? CurrentSession(HttpContext context) => context.Items[CurrentSessionItem] as AccountSession;

    public static string? ClientAddress(HttpContext context) => context.Connection.RemoteIpAddress?.ToString();

    /// <summary>Checks an email and password, slowing down guesses per address and account, or per known browser.</summary>
    public async Task<PasswordCheck> CheckAsync(string email, string password, HttpContext context, CancellationToken cancellationToken)
    {
        var address = ClientAddress(context);
        var normalized = email.Length <= MaxEmailLength ? AccountService.Normalize(email) : null;
        var account = normalized is null ? null : await accounts.FindByEmailAsync(normalized, cancellationToken);
        var device = account is null ? null : devices.KnownTo(context, account.Id);
        var wait = Wait(device, address, normalized);
        if (wait is { } paused)
        {
            LogPaused(logger, address, (int)Math.Ceiling(paused.TotalSeconds));
            return new PasswordCheck(null, SignInThrottle.Message(paused), Paused: true);
        }

        bool matches;
        if (account is null)
        {
            accounts.CheckNoPassword(password);
            matches = false;
        }
        else
        {
            matches = await accounts.CheckPasswordAsync(account, password, cancellationToken);
        }

        if (!matches)
        {
            if (device is not null)
            {
                throttle.Record(throttle.PasswordsFromDevice, device.DeviceId);
            }
            else
            {
                throttle.Record(throttle.PasswordsFromAddress, address);
                throttle.Record(throttle.PasswordsForAccount, normalized);
            }

            return Wait(device, address, normalized) is { } after
                ? new PasswordCheck(null, SignInThrottle.Message(after), Paused: true)
                : new PasswordCheck(null, "That email and password do not match. Check both and try again.");
        }

        throttle.Forgive(throttle.PasswordsForAccount, normalized);
        throttle.Forgive(throttle.PasswordsFromDevice, device?.DeviceId);
        return account!.IsDisabled
            ? new PasswordCheck(null, "This account is disabled. Contact your TokenPool administrator.")
            : new PasswordCheck(account, null);
    }

    /// <summary>
    /// Checks a code from the authenticator app or a recovery code for the account, counted per account and per
    /// address. Returns null when it is right, else the message to show (the same for every account).
    /// </summary>
    public async Task<string?> CheckSecondFactorAsync(Account account, string? code, bool recovery, HttpContext context, CancellationToken cancellationToken)
    {
        var address = ClientAddress(context);
        var subject = account.Id.ToString(CultureInfo.InvariantCulture);
        if (SignInThrottle.Longest(throttle.RetryAfter(throttle.CodesForAccount, subject), throttle.RetryAfter(throttle.CodesFromAddress, address)) is { } wait)
        {
            LogCodesPaused(logger, account.Id, address, (int)Math.Ceiling(wait.TotalSeconds));
            return SignInThrottle.CodeMessage(wait);
        }

        var ok = recovery
            ? await twoFactor.UseRecoveryCodeAsync(account.Id, code, address, cancellationToken)
            : await twoFactor.CheckCodeAsync(account, code, cancellationToken) == CodeCheck.Accepted;
        if (ok)
        {
            throttle.Forgive(throttle.CodesForAccount, subject);
            return null;
        }

        throttle.Record(throttle.CodesForAccount, subject);
        throttle.Record(throttle.CodesFromAddress, address);
        return SignInThrottle.Longest(throttle.RetryAfter(throttle.CodesForAccount, subject), throttle.RetryAfter(throttle.CodesFromAddress, address)) is { } after
            ? SignInThrottle.CodeMessage(after)
            : recovery
                ? "That recovery code is not right, or was used already. Check it and try again."
                : "That code is not right, or was used already. Enter the code your authenticator app shows now.";
    }

    /// <summary>Starts a session for the account: its row, its cookie, the known-browser cookie and an activity-log entry.</summary>
    public async Task SignInAsync(HttpContext context, Account account, string method, CancellationToken cancellationToken)
    {
        var lifetime = TimeSpan.FromHours(options.Value.SessionHours);
        var started = await sessions.StartAsync(account.Id, method, ClientAddress(context), context.Request.Headers.UserAgent.ToString(), lifetime, cancellationToken);
        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, account.Id.ToString(CultureInfo.InvariantCulture)),
                new Claim(ClaimTypes.Name, account.Email),
                new Claim(ClaimTypes.Role, RoleName(account.Role)),
                new Claim(StampClaim, account.SecurityStamp),
                new Claim(SessionClaim, started.Token),
            ],
            Scheme);
        await context.SignInAsync(Scheme, new ClaimsPrincipal(identity), new AuthenticationProperties { IsPersistent = false });
        devices.Remember(context, account.Id);
        pending.End(context);
        context.Items[CurrentAccountItem] = account;
        context.Items[CurrentSessionItem] = started.Session;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        db.AuditEvents.Add(new AuditEvent
        {
            AccountId = account.Id,
            Kind = AuditKinds.SignedIn,
            Detail = MethodName(method),
            ClientAddress = ClientAddress(context),
            CreatedAt = time.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(cancellationToken);
        LogSignedIn(logger, account.Id, started.Session.Id, method);
    }

    /// <summary>Ends the request's session (its row, so copies of the cookie stop working too) and clears the cookie.</summary>
    public async Task SignOutAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (context.User.Identity?.IsAuthenticated == true && CurrentSession(context) is { } session)
        {
            await sessions.EndAsync(session.AccountId, session.Id, cancellationToken);
        }

        await context.SignOutAsync(Scheme);
    }

    /// <summary>Whether the password (and second factor) were entered in this session within the last few minutes.</summary>
    public bool PasswordIsRecent(HttpContext context)
    {
        if (CurrentSession(context)?.ConfirmedAt is not { } confirmed)
        {
            return false;
        }

        var age = time.GetUtcNow().UtcDateTime - confirmed;
        return age >= TimeSpan.Zero && age < TimeSpan.FromSeconds(options.Value.RecentPasswordSeconds);
    }

    /// <summary>
    /// Confirms the signed-in person again (before revealing a key, changing the password): the password, and a code
    /// from the authenticator app when the account has one. Renews the "recent" mark on success. Returns null on
    /// success, else the message to show.
    /// </summary>
    public async Task<string?> ConfirmAsync(HttpContext context, string? password, string? code, string wrongPasswordMessage, CancellationToken cancellationToken)
    {
        var account = Current(context);
        if (string.IsNullOrEmpty(password))
        {
            return "Enter your password.";
        }

        if (account.HasTotp && string.IsNullOrWhiteSpace(code))
        {
            return "Enter your password and the code your authenticator app shows.";
        }

        var check = await CheckAsync(account.Email, password, context, cancellationToken);
        if (check.Account is null)
        {
            return check.Paused || check.Error is null ? check.Error : wrongPasswordMessage;
        }

        if (account.HasTotp && await CheckSecondFactorAsync(check.Account, code, recovery: false, context, cancellationToken) is { } codeError)
        {
            return codeError;
        }

        if (CurrentSession(context) is { } session)
        {
            await sessions.ConfirmAsync(session, null, cancellationToken);
        }

        return null;
    }

    public static string RoleName(AccountRole role) => role == AccountRole.Admin ? "admin" : "user";

    public static string MethodName(string method) => method switch
    {
        SignInMethods.PasswordAndCode => "password and authenticator code",
        SignInMethods.PasswordAndRecoveryCode => "password and recovery code",
        SignInMethods.Passkey => "passkey",
        _ => "password",
    };

    /// <summary>
    /// Runs on every console request with a session cookie: the session row must still exist, and the account must
    /// still exist, be enabled, and carry the security stamp the session was issued with. An admin who must sign in
    /// with two factors and has not is marked to be sent to set them up.
    /// </summary>
    public static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var http = context.HttpContext;
        var principal = context.Principal;
        var services = http.RequestServices;
        var token = principal?.FindFirstValue(SessionClaim);
        var account = principal is null || token is null ? null : await services.GetRequiredService<AccountService>().FindAsync(AccountId(principal), http.RequestAborted);
        var store = services.GetRequiredService<SessionStore>();
        var session = account is null ? null : await store.FindAsync(account.Id, token!, http.RequestAborted);
        if (principal is null || account is null || session is null || account.IsDisabled || account.SecurityStamp != principal.FindFirstValue(StampClaim))
        {
            context.RejectPrincipal();
            await http.SignOutAsync(Scheme);
            return;
        }

        var lifetime = TimeSpan.FromHours(services.GetRequiredService<IOptions<ConsoleOptions>>().Value.SessionHours);
        await store.TouchAsync(session, lifetime, http.RequestAborted);
        http.Items[CurrentAccountItem] = account;
        http.Items[CurrentSessionItem] = session;
        if (account.Role == AccountRole.Admin && !SignInMethods.IsStrong(session.Method)
            && (await services.GetRequiredService<SecurityPolicies>().GetAsync(http.RequestAborted)).RequireTwoFactorForAdmins)
        {
            http.Items[MustEnrolItem] = true;
        }

        if (principal.FindFirstValue(ClaimTypes.Role) != RoleName(account.Role))
        {
            var identity = new ClaimsIdentity(principal.Claims.Where(c => c.Type != ClaimTypes.Role), Scheme);
            identity.AddClaim(new Claim(ClaimTypes.Role, RoleName(account.Role)));
            context.ReplacePrincipal(new ClaimsPrincipal(identity));
            context.ShouldRenew = true;
        }
    }

    private TimeSpan? Wait(KnownDevice? device, string? address, string? normalizedEmail) =>
        device is not null
            ? throttle.RetryAfter(throttle.PasswordsFromDevice, device.DeviceId)
            : SignInThrottle.Longest(throttle.RetryAfter(throttle.PasswordsFromAddress, address), throttle.RetryAfter(throttle.PasswordsForAccount, normalizedEmail));

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Console password check refused from {ClientAddress}: too many wrong passwords, retry in {RetrySeconds} s")]
    private static partial void LogPaused(ILogger logger, string? clientAddress, int retrySeconds);

    [LoggerMessage(EventId = 7002, Level = LogLevel.Warning, Message = "Console code check for account {AccountId} refused from {ClientAddress}: too many wrong codes, retry in {RetrySeconds} s")]
    private static partial void LogCodesPaused(ILogger logger, long accountId, string? clientAddress, int retrySeconds);

    [LoggerMessage(EventId = 7003, Level = LogLevel.Information, Message = "Console sign-in: account {AccountId}, session {SessionId}, by {Method}")]
    private static partial void LogSignedIn(ILogger logger, long accountId, long sessionId, string method);
}
