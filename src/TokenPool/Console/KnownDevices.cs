using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace TokenPool.WebConsole;

/// <summary>A browser that signed in to an account before: the account and the browser's own random id.</summary>
internal sealed record KnownDevice(long AccountId, string DeviceId);

/// <summary>
/// The device cookie: after a successful sign-in, the browser gets a signed, encrypted, HttpOnly cookie naming
/// the account and a random id for the browser. On that browser, wrong passwords typed by others elsewhere do
/// not slow the owner's sign-in; the browser's own wrong passwords are counted on its id instead.
/// </summary>
internal sealed class KnownDevices(IDataProtectionProvider dataProtection, IOptions<ConsoleOptions> options, TimeProvider time)
{
    public const string CookieName = "tokenpool_device";

    private readonly ITimeLimitedDataProtector _protector = dataProtection.CreateProtector("TokenPool.Console.KnownDevice.v1").ToTimeLimitedDataProtector();

    /// <summary>The device the request's cookie names, or null when it has none or it does not check out.</summary>
    public KnownDevice? Read(HttpContext context)
    {
        var value = context.Request.Cookies[CookieName];
        if (string.IsNullOrEmpty(value) || value.Length > 1024)
        {
            return null;
        }

        try
        {
            var parts = _protector.Unprotect(value).Split(':', 2);
            return parts.Length == 2 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var accountId)
                ? new KnownDevice(accountId, parts[1])
                : null;
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    /// <summary>The request's device when it is known to <paramref name="accountId"/>.</summary>
    public KnownDevice? KnownTo(HttpContext context, long accountId) => Read(context) is { } device && device.AccountId == accountId ? device : null;

    /// <summary>Marks this browser as known to the account (keeping its id when it already was).</summary>
    public void Remember(HttpContext context, long accountId)
    {
        var deviceId = KnownTo(context, accountId)?.DeviceId ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var lifetime = TimeSpan.FromDays(options.Value.KnownDeviceDays);
        var value = _protector.Protect(accountId.ToString(CultureInfo.InvariantCulture) + ":" + deviceId, lifetime);
        context.Response.Cookies.Append(CookieName, value, new CookieOptions
        {
            Path = "/console",
            HttpOnly = true,
            SameSite = SameSiteMode.Lax,
            Secure = context.Request.IsHttps,
            IsEssential = true,
            Expires = time.GetUtcNow() + lifetime,
        });
    }
}
