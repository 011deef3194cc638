namespace TokenPool.Simulator;

/// <summary>One part of a conversation, whatever API carried it. <see cref="Seal"/> is encrypted reasoning or a thinking signature.</summary>
internal sealed record ConversationPart(string Role, PartKind Kind, string Text, string? Name = null, string? CallId = null, string? Seal = null, string? ItemId = null);
