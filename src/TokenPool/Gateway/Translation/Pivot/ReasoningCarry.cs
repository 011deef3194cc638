namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>Which upstream made a piece of reasoning, and so how it goes back to that upstream on the next turn.</summary>
internal enum ReasoningOrigin
{
    None = 0,

    /// <summary>A Chat Completions upstream's <c>delta.reasoning_content</c> (DeepSeek, SGLang, Kimi): sent back as <c>reasoning_content</c>.</summary>
    ChatReasoningContent = 1,

    /// <summary>A Chat Completions upstream's <c>delta.reasoning</c> (vLLM, Ollama): sent back as <c>reasoning</c>.</summary>
    ChatReasoning = 2,

    /// <summary>An Anthropic <c>thinking</c> block: its text and <c>signature</c> go back unchanged.</summary>
    MessagesThinking = 3,

    /// <summary>An Anthropic <c>redacted_thinking</c> block: its <c>data</c> goes back unchanged.</summary>
    MessagesRedacted = 4,

    /// <summary>A Responses upstream's reasoning item: its <c>encrypted_content</c> goes back.</summary>
    Responses = 5,
}

/// <summary>Reasoning as its upstream needs it back: the exact text, and the opaque blob (signature, encrypted content) if any.</summary>
internal sealed record ReasoningCarry(ReasoningOrigin Origin, string Text, string? Blob);
