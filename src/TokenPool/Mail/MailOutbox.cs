using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace TokenPool.Mail;

/// <summary>
/// Mail waiting to be sent by <see cref="MailSender"/>. Pages queue and return at once, so how long a request
/// takes never tells whether a mail was sent (and so whether an email has an account).
/// </summary>
internal sealed partial class MailOutbox(IOptions<MailOptions> options, ILogger<MailOutbox> logger)
{
    private const int Capacity = 1000;

    private readonly Channel<OutgoingMail> _queue = Channel.CreateBounded<OutgoingMail>(
        new BoundedChannelOptions(Capacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    /// <summary>Whether an SMTP server is configured; without one nothing is sent.</summary>
    public bool IsConfigured => options.Value.IsConfigured;

    public ChannelReader<OutgoingMail> Reader => _queue.Reader;

    /// <summary>Queues a message; false when mail is not configured or the queue is full (the message is dropped and logged).</summary>
    public bool Enqueue(OutgoingMail mail)
    {
        if (!IsConfigured)
        {
            return false;
        }

        if (_queue.Writer.TryWrite(mail))
        {
            return true;
        }

        LogQueueFull(logger, mail.Kind, mail.AccountId);
        return false;
    }

    [LoggerMessage(EventId = 7102, Level = LogLevel.Warning, Message = "Mail {Kind} for account {AccountId} dropped: the outgoing queue is full")]
    private static partial void LogQueueFull(ILogger logger, string kind, long? accountId);
}
