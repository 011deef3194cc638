using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Options;
using MimeKit;

namespace TokenPool.Mail;

/// <summary>
/// Sends queued mail through the configured SMTP server with MailKit:
/// 1. take the next message from <see cref="MailOutbox"/>;
/// 2. connect (plain, STARTTLS or TLS as configured), authenticate when a user name is set;
/// 3. send the plain-text and HTML bodies as one multipart/alternative message;
/// 4. on failure, try twice more with a growing pause, then log that it could not be sent.
/// The log names the kind of mail and the account id, never the address, the body or a link in it.
/// </summary>
internal sealed partial class MailSender(MailOutbox outbox, IOptions<MailOptions> options, ILogger<MailSender> logger) : BackgroundService
{
    private const int Attempts = 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!outbox.IsConfigured)
        {
            return;
        }

        try
        {
            await foreach (var mail in outbox.Reader.ReadAllAsync(stoppingToken))
            {
                await SendWithRetriesAsync(mail, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: mail still queued is not sent (its links can be asked for again).
        }
    }

    private async Task SendWithRetriesAsync(OutgoingMail mail, CancellationToken cancellationToken)
    {
        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            try
            {
                await SendAsync(mail, cancellationToken);
                LogSent(logger, mail.Kind, mail.AccountId);
                return;
            }
            catch (Exception error) when (error is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                if (attempt == Attempts)
                {
                    LogFailed(logger, mail.Kind, mail.AccountId, error.GetType().Name, error.Message);
                    return;
                }

                await Task.Delay(TimeSpan.FromSeconds(2 * attempt), cancellationToken);
            }
        }
    }

    private async Task SendAsync(OutgoingMail mail, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress(settings.FromName, MailboxAddress.Parse(settings.From!).Address));
        message.To.Add(MailboxAddress.Parse(mail.To));
        message.Subject = mail.Subject;
        message.Body = new BodyBuilder { TextBody = mail.Text, HtmlBody = mail.Html }.ToMessageBody();

        using var client = new SmtpClient { Timeout = settings.TimeoutSeconds * 1000 };
        var security = settings.Security switch
        {
            MailSecurity.None => SecureSocketOptions.None,
            MailSecurity.Tls => SecureSocketOptions.SslOnConnect,
            _ => SecureSocketOptions.StartTls,
        };
        await client.ConnectAsync(settings.Host!, settings.EffectivePort, security, cancellationToken);
        if (!string.IsNullOrEmpty(settings.UserName))
        {
            await client.AuthenticateAsync(settings.UserName, settings.Password ?? "", cancellationToken);
        }

        await client.SendAsync(message, cancellationToken);
        await client.DisconnectAsync(quit: true, cancellationToken);
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Mail {Kind} for account {AccountId} sent")]
    private static partial void LogSent(ILogger logger, string kind, long? accountId);

    [LoggerMessage(EventId = 7103, Level = LogLevel.Error, Message = "Mail {Kind} for account {AccountId} could not be sent after 3 attempts: {ErrorType}: {Reason}")]
    private static partial void LogFailed(ILogger logger, string kind, long? accountId, string errorType, string reason);
}
