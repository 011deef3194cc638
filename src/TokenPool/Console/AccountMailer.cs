using System.Net;
using Microsoft.Extensions.Options;
using TokenPool.Accounts;
using TokenPool.Hosting;
using TokenPool.Mail;

namespace TokenPool.WebConsole;

/// <summary>
/// The console's mails to account owners: each issues its single-use token when it has a link, builds the link
/// on the site's address, and queues the mail. The site's address is the configured web host
/// (<c>Hosts:WebHost</c>); without one, the address the browser used only when that is this machine (a laptop),
/// never a Host header from elsewhere: otherwise anyone could have reset links for someone else's account point
/// at their own site.
/// </summary>
internal sealed class AccountMailer(
    MailOutbox outbox,
    OneTimeTokens tokens,
    PublicUrls urls,
    IOptions<HostsOptions> hosts,
    IOptions<AccountOptions> accountOptions)
{
    /// <summary>Why mail cannot be sent from this request, for the page to show; null when it can.</summary>
    public string? Unavailable(HttpContext context) =>
        !outbox.IsConfigured
            ? "This TokenPool has no mail server configured, so it cannot send mail. Ask its administrator: they can set Mail:Host, or reset your password with `tokenpool user password`."
            : SiteUrl(context) is null
                ? "This TokenPool does not know its public address, so it cannot put links in mail. Its administrator can set Hosts:WebHost."
                : null;

    /// <summary>Mails a password-reset link; false when mail cannot be sent from here.</summary>
    public async Task<bool> SendPasswordResetAsync(Account account, HttpContext context, CancellationToken cancellationToken)
    {
        if (Unavailable(context) is not null)
        {
            return false;
        }

        var minutes = accountOptions.Value.PasswordResetMinutes;
        var token = await tokens.IssueAsync(account.Id, AccountTokenPurposes.PasswordReset, TimeSpan.FromMinutes(minutes), cancellationToken);
        return outbox.Enqueue(AccountMail.PasswordReset(account, $"{SiteUrl(context)}/console/reset-password?token={token}", minutes));
    }

    /// <summary>Mails an email-verification link; false when mail cannot be sent from here.</summary>
    public async Task<bool> SendVerificationAsync(Account account, HttpContext context, CancellationToken cancellationToken)
    {
        if (Unavailable(context) is not null)
        {
            return false;
        }

        var hours = accountOptions.Value.VerifyEmailHours;
        var token = await tokens.IssueAsync(account.Id, AccountTokenPurposes.VerifyEmail, TimeSpan.FromHours(hours), cancellationToken);
        return outbox.Enqueue(AccountMail.VerifyEmail(account, $"{SiteUrl(context)}/console/verify-email?token={token}", hours));
    }

    /// <summary>Tells an existing owner that someone tried to sign up with their email; false when mail cannot be sent from here.</summary>
    public bool SendAlreadyRegistered(Account account, HttpContext context) =>
        Unavailable(context) is null
        && outbox.Enqueue(AccountMail.AlreadyRegistered(account, $"{SiteUrl(context)}/console/sign-in", $"{SiteUrl(context)}/console/forgot-password"));

    private string? SiteUrl(HttpContext context)
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
