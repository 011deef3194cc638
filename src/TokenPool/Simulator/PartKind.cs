namespace TokenPool.Simulator;

/// <summary>What a part of the conversation is.</summary>
internal enum PartKind
{
    /// <summary>Text from the system, a user or the assistant.</summary>
    Text,

    /// <summary>A tool call the assistant made (function, custom tool or <c>tool_use</c>).</summary>
    ToolCall,

    /// <summary>A tool's output sent back by the client.</summary>
    ToolResult,

    /// <summary>Reasoning the assistant sent earlier (encrypted content, a thinking block, <c>reasoning_content</c>).</summary>
    Reasoning,
}
