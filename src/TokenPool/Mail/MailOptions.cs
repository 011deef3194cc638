using System.ComponentModel.DataAnnotations;

namespace TokenPool.Mail;

/// <summary>How the SMTP connection is secured.</summary>
internal enum MailSecurity
{
    /// <summary>Plain SMTP (a relay on the same machine or a test server).</summary>
    None,

    /// <summary>Plain connection upgraded with STARTTLS before anything is sent (usually port 587).</summary>
    StartTls,

    /// <summary>TLS from the first byte (usually port 465).</summary>
    Tls,
}

/// <summary>
/// Outgoing mail (password resets, email verification). Bound from the <c>Mail</c> section; without a
/// <see cref="Host"/>, TokenPool sends no mail and the console says so where a feature needs it.
/// </summary>
internal sealed class MailOptions : IValidatableObject
{
    public const string Section = "Mail";

    /// <summary>The SMTP server's host name; empty turns mail off.</summary>
    public string? Host { get; set; }

    /// <summary>The SMTP port; 0 picks the usual one for <see cref="Security"/> (25, 587 or 465).</summary>
    [Range(0, 65535)]
    public int Port { get; set; }

    public MailSecurity Security { get; set; } = MailSecurity.StartTls;

    /// <summary>The SMTP user name, when the server wants one.</summary>
    public string? UserName { get; set; }

    /// <summary>The SMTP password. Never logged.</summary>
    public string? Password { get; set; }

    /// <summary>The sender's address, e.g. <c>no-reply@tokenpool.dev</c>.</summary>
    public string? From { get; set; }

    /// <summary>The sender's name shown by mail clients.</summary>
    public string FromName { get; set; } = "TokenPool";

    /// <summary>How long one delivery attempt may take.</summary>
    [Range(1, 600)]
    public int TimeoutSeconds { get; set; } = 30;

    public bool IsConfigured => !string.IsNullOrWhiteSpace(Host);

    public int EffectivePort => Port != 0 ? Port : Security switch
    {
        MailSecurity.None => 25,
        MailSecurity.Tls => 465,
        _ => 587,
    };

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IsConfigured && (string.IsNullOrWhiteSpace(From) || !MimeKit.MailboxAddress.TryParse(From, out _)))
        {
            yield return new ValidationResult("Mail:From must be the sender's address (e.g. no-reply@example.com) when Mail:Host is set.", [nameof(From)]);
        }

        if (!string.IsNullOrEmpty(UserName) && string.IsNullOrEmpty(Password))
        {
            yield return new ValidationResult("Mail:Password is needed with Mail:UserName.", [nameof(Password)]);
        }
    }
}
