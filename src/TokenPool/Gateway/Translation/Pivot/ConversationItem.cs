namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>One entry of a conversation. Readers flatten their API's messages into these; writers regroup them.</summary>
internal abstract record ConversationItem;

/// <summary>Text and images said by one role. A system message in the middle of a conversation keeps its place here.</summary>
internal sealed record MessageItem(ItemRole Role, IReadOnlyList<ContentPart> Content) : ConversationItem;

/// <summary>
/// A call the model made. <see cref="Name"/> is the name the upstream saw (namespaces flattened);
/// <see cref="Arguments"/> is JSON text for a function, the raw input for a custom tool.
/// </summary>
internal sealed record ToolCallItem(string CallId, string Name, string Arguments, ToolKind Kind) : ConversationItem;

/// <summary>What a tool answered.</summary>
internal sealed record ToolResultItem(string CallId, IReadOnlyList<ContentPart> Output, bool IsError) : ConversationItem;

/// <summary>
/// The model's reasoning from an earlier turn: the text the client saw (summary or thinking), and what the upstream
/// needs back, restored from TokenPool's seal when the client returned it intact.
/// </summary>
internal sealed record ReasoningItem(string Text, ReasoningCarry? Carry) : ConversationItem;

internal abstract record ContentPart;

internal sealed record TextPart(string Text) : ContentPart;

/// <summary>An image by URL (<c>https:</c> or a <c>data:</c> URL with base64 bytes).</summary>
internal sealed record ImagePart(string Url, string? Detail) : ContentPart;
