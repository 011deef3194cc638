using System.Globalization;
using Microsoft.AspNetCore.DataProtection;

namespace TokenPool.WebConsole;

/// <summary>A sign-in whose password was right and that waits for the second factor.</summary>
internal sealed record PendingAccount(long AccountId, string SecurityStamp, string ReturnUrl);

/// <summary>
/// Between the password and the two-factor code: an encrypted cookie, valid for ten minutes, naming the account
/// (and its security stamp, so a password change in between voids it). No session exists until the code is right.
/// </summary>
internal sealed class PendingSignIn(IDataProtectionProvider dataProtection)
{
    public const string CookieName = "tokenpool_signin";
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    private readonly ProtectedCookie _cookie = new(dataProtection, "TokenPool.Console.PendingSignIn.v1", CookieName);

    public void Begin(HttpContext context, long accountId, string securityStamp, string returnUrl) =>
        _cookie.Write(context, string.Join('\n', accountId.ToString(CultureInfo.InvariantCulture), securityStamp, returnUrl), Lifetime);

    public PendingAccount? Read(HttpContext context) =>
        _cookie.Read(context)?.Split('\n', 3) is [var account, var stamp, var returnUrl] && long.TryParse(account, NumberStyles.None, CultureInfo.InvariantCulture, out var accountId)
            ? new PendingAccount(accountId, stamp, returnUrl)
            : null;

    public void End(HttpContext context) => _cookie.Delete(context);
}
