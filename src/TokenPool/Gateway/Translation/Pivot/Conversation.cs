namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// The internal model of a request that every API's request reader fills and every request writer reads: the
/// instructions, the conversation as a flat list of items (as the Responses API models it), the tools and the
/// sampling settings. The output limit and the model name are not here: the gateway decides them
/// (<see cref="BridgeOptions"/>).
/// </summary>
internal sealed class Conversation
{
    /// <summary>The leading system prompt: Responses <c>instructions</c>, Messages <c>system</c>.</summary>
    public List<string> Instructions { get; } = [];

    public List<ConversationItem> Items { get; } = [];

    public List<ToolSpec> Tools { get; } = [];

    public ToolChoice? ToolChoice { get; set; }

    public bool? ParallelToolCalls { get; set; }

    public double? Temperature { get; set; }

    public double? TopP { get; set; }

    public List<string> Stop { get; } = [];

    /// <summary>Reasoning effort: <c>none</c>, <c>minimal</c>, <c>low</c>, <c>medium</c>, <c>high</c> or <c>xhigh</c>.</summary>
    public string? Effort { get; set; }

    /// <summary>Structured output asked for (JSON object or JSON schema); null for plain text.</summary>
    public OutputFormat? Format { get; set; }

    /// <summary>What the request carried that the upstream API cannot (tool types, item types), named for the log.</summary>
    public List<string> Dropped { get; } = [];

    /// <summary>Notes something left out. The names come from the client, so each is cut to 40 characters and at most 16 distinct ones are kept.</summary>
    public void Drop(string what)
    {
        if (what.Length > 40)
        {
            what = what[..40];
        }

        if (Dropped.Count < 16 && !Dropped.Contains(what))
        {
            Dropped.Add(what);
        }
    }
}

internal enum ItemRole
{
    System,
    User,
    Assistant,
}

/// <summary>How a tool is called: with JSON arguments, with one free-form string (Codex's <c>apply_patch</c>), or as Codex's client-side tool search.</summary>
internal enum ToolKind
{
    Function,
    Custom,
    ToolSearch,
}

internal enum ToolChoiceMode
{
    Auto,
    None,
    Required,
    Named,
}

internal sealed record ToolChoice(ToolChoiceMode Mode, string? Name = null)
{
    public static readonly ToolChoice Auto = new(ToolChoiceMode.Auto);
    public static readonly ToolChoice None = new(ToolChoiceMode.None);
    public static readonly ToolChoice Required = new(ToolChoiceMode.Required);
}

/// <summary>A tool the model may call. <see cref="ParametersJson"/> is the JSON schema as the client sent it.</summary>
internal sealed record ToolSpec(string Name, string? Description, string? ParametersJson, ToolKind Kind)
{
    public bool? Strict { get; init; }
}

/// <summary>Structured output: <c>json_object</c>, or <c>json_schema</c> with a name and a schema.</summary>
internal sealed record OutputFormat(string Type, string? Name, string? SchemaJson, bool? Strict);
