using System.Globalization;
using System.Security.Cryptography;
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

    private readonly ITimeLimitedDataProtector _protector = dataProtection.CreateProtector("TokenPool.Console.PendingSignIn.v1").ToTimeLimitedDataProtector();

    public void Begin(HttpContext context, long accountId, string securityStamp, string returnUrl) =>
        context.Response.Cookies.Append(
            CookieName,
            _protector.Protect(string.Join('\n', accountId.ToString(CultureInfo.InvariantCulture), securityStamp, returnUrl), Lifetime),
            new CookieOptions { Path = "/console", HttpOnly = true, SameSite = SameSiteMode.Lax, Secure = context.Request.IsHttps, IsEssential = true, MaxAge = Lifetime });

    public PendingAccount? Read(HttpContext context)
    {
        var value = context.Request.Cookies[CookieName];
        if (string.IsNullOrEmpty(value) || value.Length > 4096)
        {
            return null;
        }

        try
        {
            var parts = _protector.Unprotect(value).Split('\n', 3);
            return parts.Length == 3 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var accountId)
                ? new PendingAccount(accountId, parts[1], parts[2])
                : null;
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    public static void End(HttpContext context) => context.Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/console" });
}
