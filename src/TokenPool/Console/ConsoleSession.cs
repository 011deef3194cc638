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
/// Console sessions: the cookie's claims, signing in and out, and the "password entered recently" check
/// that guards revealing a key. Every password check goes through <see cref="SignInThrottle"/>.
/// </summary>
internal sealed partial class ConsoleSession(
    AccountService accounts,
    SignInThrottle throttle,
    IDbContextFactory<TokenPoolDb> dbFactory,
    IOptions<ConsoleOptions> options,
    TimeProvider time,
    ILogger<ConsoleSession> logger)
{
    public const string Scheme = CookieAuthenticationDefaults.AuthenticationScheme;
    public const string AdminPolicy = "console-admin";
    public const string StampClaim = "tp:stamp";
    public const string PasswordTimeClaim = "tp:password_at";
    public const string CurrentAccountItem = "tp:account";

    public static long AccountId(ClaimsPrincipal user) =>
        long.Parse(user.FindFirstValue(ClaimTypes.NameIdentifier) ?? "0", CultureInfo.InvariantCulture);

    /// <summary>The signed-in account, as loaded when the cookie was validated for this request.</summary>
    public static Account Current(HttpContext context) =>
        context.Items[CurrentAccountItem] as Account ?? throw new InvalidOperationException("No signed-in account.");

    public static string? ClientAddress(HttpContext context) => context.Connection.RemoteIpAddress?.ToString();

    /// <summary>Checks an email and password, counting failures per account and per address.</summary>
    public async Task<PasswordCheck> CheckAsync(string email, string password, HttpContext context, CancellationToken cancellationToken)
    {
        var address = ClientAddress(context);
        if (throttle.RetryAfter(email, address) is { } wait)
        {
            LogPaused(logger, address, (int)wait.TotalSeconds);
            return new PasswordCheck(null, SignInThrottle.Message(wait), Paused: true);
        }

        var account = await accounts.FindByEmailAsync(email, cancellationToken);
        if (account is null || !await accounts.CheckPasswordAsync(account, password, cancellationToken))
        {
            throttle.RecordFailure(email, address);
            return throttle.RetryAfter(email, address) is { } after
                ? new PasswordCheck(null, SignInThrottle.Message(after), Paused: true)
                : new PasswordCheck(null, "That email and password do not match. Check both and try again.");
        }

        throttle.RecordSuccess(email);
        return account.IsDisabled
            ? new PasswordCheck(null, "This account is disabled. Contact your TokenPool administrator.")
            : new PasswordCheck(account, null);
    }

    public async Task SignInAsync(HttpContext context, Account account)
    {
        var identity = new ClaimsIdentity(
            [
                new Claim(ClaimTypes.NameIdentifier, account.Id.ToString(CultureInfo.InvariantCulture)),
                new Claim(ClaimTypes.Name, account.Email),
                new Claim(ClaimTypes.Role, RoleName(account.Role)),
                new Claim(StampClaim, account.SecurityStamp),
                new Claim(PasswordTimeClaim, time.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)),
            ],
            Scheme);
        await context.SignInAsync(Scheme, new ClaimsPrincipal(identity), new AuthenticationProperties { IsPersistent = false });
    }

    /// <summary>Records a sign-in in the account's activity log, with the address it came from.</summary>
    public async Task RecordSignInAsync(Account account, HttpContext context, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        db.AuditEvents.Add(new AuditEvent
        {
            AccountId = account.Id,
            Kind = AuditKinds.SignedIn,
            ClientAddress = ClientAddress(context),
            CreatedAt = time.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(cancellationToken);
    }

    public bool PasswordIsRecent(ClaimsPrincipal user)
    {
        if (!long.TryParse(user.FindFirstValue(PasswordTimeClaim), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seconds))
        {
            return false;
        }

        var age = time.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(seconds);
        return age >= TimeSpan.Zero && age < TimeSpan.FromSeconds(options.Value.RecentPasswordSeconds);
    }

    /// <summary>
    /// Confirms the signed-in person's password again (for reveal), renewing the "recent" mark on success.
    /// Returns null on success, else the message to show.
    /// </summary>
    public async Task<string?> ConfirmAsync(HttpContext context, string? password, string wrongPasswordMessage, CancellationToken cancellationToken)
    {
        var account = Current(context);
        if (string.IsNullOrEmpty(password))
        {
            return "Enter your password.";
        }

        var check = await CheckAsync(account.Email, password, context, cancellationToken);
        if (check.Account is null)
        {
            return check.Paused || check.Error is null ? check.Error : wrongPasswordMessage;
        }

        await SignInAsync(context, check.Account);
        return null;
    }

    public static string RoleName(AccountRole role) => role == AccountRole.Admin ? "admin" : "user";

    /// <summary>
    /// Runs on every console request with a session cookie: the account must still exist, be enabled, and
    /// carry the security stamp the session was issued with (a password change signs out every session).
    /// </summary>
    public static async Task ValidateAsync(CookieValidatePrincipalContext context)
    {
        var principal = context.Principal;
        var accounts = context.HttpContext.RequestServices.GetRequiredService<AccountService>();
        var account = principal is null ? null : await accounts.FindAsync(AccountId(principal), context.HttpContext.RequestAborted);
        if (principal is null || account is null || account.IsDisabled || account.SecurityStamp != principal.FindFirstValue(StampClaim))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(Scheme);
            return;
        }

        context.HttpContext.Items[CurrentAccountItem] = account;
        if (principal.FindFirstValue(ClaimTypes.Role) != RoleName(account.Role))
        {
            var identity = new ClaimsIdentity(principal.Claims.Where(c => c.Type != ClaimTypes.Role), Scheme);
            identity.AddClaim(new Claim(ClaimTypes.Role, RoleName(account.Role)));
            context.ReplacePrincipal(new ClaimsPrincipal(identity));
            context.ShouldRenew = true;
        }
    }

    [LoggerMessage(EventId = 7001, Level = LogLevel.Warning, Message = "Console password check refused from {ClientAddress}: too many wrong passwords, retry in {RetrySeconds} s")]
    private static partial void LogPaused(ILogger logger, string? clientAddress, int retrySeconds);
}
