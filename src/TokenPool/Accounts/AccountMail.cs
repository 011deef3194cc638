using System.Net;
using TokenPool.Mail;

namespace TokenPool.Accounts;

/// <summary>The mails accounts receive, each with a plain-text and an HTML body. Links are absolute URLs on the site.</summary>
internal static class AccountMail
{
    public static OutgoingMail PasswordReset(Account account, string link, int minutes) => Build(
        account,
        "password_reset",
        "Reset your TokenPool password",
        [
            "Someone (hopefully you) asked to reset the password of your TokenPool account.",
            $"To choose a new password, open this link within {minutes} minutes. It works once:",
        ],
        link,
        "Resetting the password signs out every console session of the account. Your API keys keep working. "
        + "If you did not ask for this, ignore this mail: your password stays as it is.");

    public static OutgoingMail VerifyEmail(Account account, string link, int hours) => Build(
        account,
        "verify_email",
        "Confirm your email for TokenPool",
        [
            "Welcome to TokenPool. Confirm that this is your email address to create API keys.",
            $"Open this link within {hours} hours:",
        ],
        link,
        "If you did not create a TokenPool account, ignore this mail.");

    public static OutgoingMail AlreadyRegistered(Account account, string signInLink, string resetLink) => Build(
        account,
        "already_registered",
        "Someone tried to sign up to TokenPool with your email",
        [
            "Someone (perhaps you) tried to create a TokenPool account with this email address, which already has one. "
            + "No new account was made and nothing about yours changed.",
            "To use your account, sign in:",
        ],
        signInLink,
        $"Forgot your password? Reset it here: {resetLink}");

    private static OutgoingMail Build(Account account, string kind, string subject, string[] lines, string link, string footer)
    {
        var text = string.Join("\n\n", lines) + "\n\n" + link + "\n\n" + footer + "\n\n-- TokenPool\n";
        var html = "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">"
            + string.Concat(lines.Select(l => $"<p>{WebUtility.HtmlEncode(l)}</p>"))
            + $"<p><a href=\"{WebUtility.HtmlEncode(link)}\">{WebUtility.HtmlEncode(link)}</a></p>"
            + $"<p style=\"color:#555\">{WebUtility.HtmlEncode(footer)}</p><p>-- TokenPool</p></body></html>";
        return new OutgoingMail(account.Email, subject, text, html, kind, account.Id);
    }
}
