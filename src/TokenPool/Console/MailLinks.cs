using System.Net;
using Microsoft.Extensions.Options;
using TokenPool.Hosting;
using TokenPool.Mail;

namespace TokenPool.WebConsole;

/// <summary>
/// The site address used in links sent by mail. It is the configured web host (<c>Hosts:WebHost</c>); without
/// one, the address the browser used only when that is this machine (a laptop), never a Host header from
/// elsewhere: otherwise anyone could have reset links for someone else's account point at their own site.
/// </summary>
internal sealed class MailLinks(MailOutbox outbox, PublicUrls urls, IOptions<HostsOptions> hosts)
{
    /// <summary>Why mail cannot be sent from this request, for the page to show; null when it can.</summary>
    public string? Unavailable(HttpContext context) =>
        !outbox.IsConfigured
            ? "This TokenPool has no mail server configured, so it cannot send mail. Ask its administrator: they can set Mail:Host, or reset your password with `tokenpool user password`."
            : SiteUrl(context) is null
                ? "This TokenPool does not know its public address, so it cannot put links in mail. Its administrator can set Hosts:WebHost."
                : null;

    public string? SiteUrl(HttpContext context)
    {
        if (hosts.Value.WebHost is { Length: > 0 })
        {
            return urls.WebUrl(context);
        }

        var host = context.Request.Host.Host;
        var local = string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
        return local ? urls.WebUrl(context) : null;
    }
}
