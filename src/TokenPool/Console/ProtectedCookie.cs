using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;

namespace TokenPool.WebConsole;

/// <summary>
/// A console cookie whose value is encrypted and signed with the deployment's data-protection keys and carries its
/// own expiry: HttpOnly, scoped to <c>/console</c>, Secure over HTTPS. A value that was altered, made for another
/// purpose or is too old reads as absent.
/// </summary>
internal sealed class ProtectedCookie(IDataProtectionProvider dataProtection, string purpose, string name, SameSiteMode sameSite = SameSiteMode.Lax)
{
    private const int MaxLength = 8192;

    private readonly ITimeLimitedDataProtector _protector = dataProtection.CreateProtector(purpose).ToTimeLimitedDataProtector();

    public void Write(HttpContext context, string value, TimeSpan lifetime) =>
        context.Response.Cookies.Append(name, _protector.Protect(value, lifetime), new CookieOptions
        {
            Path = "/console",
            HttpOnly = true,
            SameSite = sameSite,
            Secure = context.Request.IsHttps,
            IsEssential = true,
            MaxAge = lifetime,
        });

    public string? Read(HttpContext context)
    {
        var value = context.Request.Cookies[name];
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return null;
        }

        try
        {
            return _protector.Unprotect(value);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    public void Delete(HttpContext context) => context.Response.Cookies.Delete(name, new CookieOptions { Path = "/console" });
}
