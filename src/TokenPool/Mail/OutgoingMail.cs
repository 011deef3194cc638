namespace TokenPool.Mail;

/// <summary>A message to send: both a plain-text and an HTML body. <see cref="Kind"/> and <see cref="AccountId"/> are what the log says about it.</summary>
internal sealed record OutgoingMail(string To, string Subject, string Text, string Html, string Kind, long? AccountId);
