using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using TokenPool.Accounts;
using TokenPool.Hosting;

namespace TokenPool.WebConsole;

/// <summary>
/// Carries a passkey ceremony's options from the "options" request to the "finish" request in an encrypted,
/// five-minute cookie bound to what the ceremony is for (signing in, or adding a passkey to one account), and
/// names the site the ceremony is for: the configured web host, else the host the browser used.
/// </summary>
internal sealed class PasskeyCeremony(IDataProtectionProvider dataProtection, PublicUrls urls)
{
    public const string CookieName = "tokenpool_passkey";
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(5);

    private readonly ITimeLimitedDataProtector _protector = dataProtection.CreateProtector("TokenPool.Console.PasskeyCeremony.v1").ToTimeLimitedDataProtector();

    public PasskeySite Site(HttpContext context)
    {
        var origin = urls.WebUrl(context);
        return new PasskeySite(new Uri(origin).Host, origin);
    }

    public void Begin(HttpContext context, string purpose, string optionsJson) =>
        context.Response.Cookies.Append(
            CookieName,
            _protector.Protect(purpose + "\n" + optionsJson, Lifetime),
            new CookieOptions { Path = "/console", HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = context.Request.IsHttps, IsEssential = true, MaxAge = Lifetime });

    /// <summary>The options of the ceremony begun for <paramref name="purpose"/>, ending it; null when there is none (or it is too old).</summary>
    public string? Finish(HttpContext context, string purpose)
    {
        var value = context.Request.Cookies[CookieName];
        context.Response.Cookies.Delete(CookieName, new CookieOptions { Path = "/console" });
        if (string.IsNullOrEmpty(value) || value.Length > 8192)
        {
            return null;
        }

        try
        {
            var parts = _protector.Unprotect(value).Split('\n', 2);
            return parts.Length == 2 && parts[0] == purpose ? parts[1] : null;
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}
