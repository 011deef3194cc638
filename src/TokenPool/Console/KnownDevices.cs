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
internal sealed class KnownDevices(IDataProtectionProvider dataProtection, IOptions<ConsoleOptions> options)
{
    public const string CookieName = "tokenpool_device";

    private readonly ProtectedCookie _cookie = new(dataProtection, "TokenPool.Console.KnownDevice.v1", CookieName);

    /// <summary>The device the request's cookie names, or null when it has none or it does not check out.</summary>
    public KnownDevice? Read(HttpContext context) =>
        _cookie.Read(context)?.Split(':', 2) is [var account, var device] && long.TryParse(account, NumberStyles.None, CultureInfo.InvariantCulture, out var accountId)
            ? new KnownDevice(accountId, device)
            : null;

    /// <summary>The request's device when it is known to <paramref name="accountId"/>.</summary>
    public KnownDevice? KnownTo(HttpContext context, long accountId) => Read(context) is { } device && device.AccountId == accountId ? device : null;

    /// <summary>Marks this browser as known to the account (keeping its id when it already was).</summary>
    public void Remember(HttpContext context, long accountId)
    {
        var deviceId = KnownTo(context, accountId)?.DeviceId ?? Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        _cookie.Write(context, accountId.ToString(CultureInfo.InvariantCulture) + ":" + deviceId, TimeSpan.FromDays(options.Value.KnownDeviceDays));
    }
}
