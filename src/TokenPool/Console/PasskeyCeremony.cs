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

    private readonly ProtectedCookie _cookie = new(dataProtection, "TokenPool.Console.PasskeyCeremony.v1", CookieName, SameSiteMode.Strict);

    public PasskeySite Site(HttpContext context)
    {
        var origin = urls.WebUrl(context);
        return new PasskeySite(new Uri(origin).Host, origin);
    }

    public void Begin(HttpContext context, string purpose, string optionsJson) => _cookie.Write(context, purpose + "\n" + optionsJson, Lifetime);

    /// <summary>The options of the ceremony begun for <paramref name="purpose"/>, ending it; null when there is none (or it is too old).</summary>
    public string? Finish(HttpContext context, string purpose)
    {
        var value = _cookie.Read(context);
        _cookie.Delete(context);
        return value?.Split('\n', 2) is [var begunFor, var options] && begunFor == purpose ? options : null;
    }
}
