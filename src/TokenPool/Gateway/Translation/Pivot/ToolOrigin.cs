namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>What a tool name the upstream calls stands for in the client's API: its kind, namespace and own name.</summary>
internal sealed record ToolOrigin(ToolKind Kind, string? Namespace, string Name);
