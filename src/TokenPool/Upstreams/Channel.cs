namespace TokenPool.Upstreams;

/// <summary>An upstream provider account (OpenAI, Azure OpenAI, vLLM, ...) that serves some models.</summary>
internal sealed class Channel
{
    public long Id { get; set; }

    public required string Name { get; set; }

    /// <summary>The upstream's API root, including <c>/v1</c> where the provider has it.</summary>
    public required string BaseUrl { get; set; }

    /// <summary>The wire APIs the upstream itself serves (stored as bits; see <see cref="WireSet"/>).</summary>
    public WireSet Wire { get; set; } = WireSet.OpenAi;

    /// <summary>Higher is tried first; channels of equal priority share load by weight.</summary>
    public int Priority { get; set; }

    public int Weight { get; set; } = 1;

    public bool IsEnabled { get; set; } = true;

    /// <summary>Comma-separated model names this channel serves, as clients ask for them.</summary>
    public required string Models { get; set; }

    /// <summary>Comma-separated <c>client=upstream</c> pairs, e.g. <c>gpt-5.5=gpt-5.5-2026-04</c>.</summary>
    public string? ModelAliases { get; set; }

    public int? ConnectTimeoutSeconds { get; set; }

    public int? ResponseHeadersTimeoutSeconds { get; set; }

    public int? StreamIdleTimeoutSeconds { get; set; }

    public int? TotalTimeoutSeconds { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime UpdatedAt { get; set; }

    public List<ChannelKey> Keys { get; set; } = [];
}

/// <summary>One upstream credential of a channel.</summary>
internal sealed class ChannelKey
{
    public long Id { get; set; }

    public long ChannelId { get; set; }

    public required string ProtectedKey { get; set; }

    public required string Last4 { get; set; }

    public int Weight { get; set; } = 1;

    public bool IsEnabled { get; set; } = true;

    /// <summary>Why the key was disabled (by an admin, or because the upstream said it is invalid or out of credit).</summary>
    public string? DisabledReason { get; set; }

    public DateTime? DisabledAt { get; set; }

    public DateTime CreatedAt { get; set; }
}
