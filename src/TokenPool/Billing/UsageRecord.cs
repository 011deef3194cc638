namespace TokenPool.Billing;

/// <summary>One API request, however many upstream attempts it took: its tokens, its cost, its outcome.</summary>
internal sealed class UsageRecord
{
    public long Id { get; set; }

    /// <summary>TokenPool's id for the request, returned to the client in <c>x-tokenpool-request-id</c>.</summary>
    public required string RequestId { get; set; }

    public DateTime CreatedAt { get; set; }

    public long AccountId { get; set; }

    public long KeyId { get; set; }

    public long? ChannelId { get; set; }

    public long? ChannelKeyId { get; set; }

    public required string Model { get; set; }

    /// <summary><c>responses</c> or <c>chat.completions</c>.</summary>
    public required string Endpoint { get; set; }

    public bool IsStream { get; set; }

    /// <summary>The HTTP status the client received.</summary>
    public int Status { get; set; }

    /// <summary>How the request ended: completed, incomplete, failed, upstream_error, client_closed, ...</summary>
    public required string Outcome { get; set; }

    public string? ErrorCode { get; set; }

    /// <summary>All input tokens, cached ones included.</summary>
    public long InputTokens { get; set; }

    public long CachedInputTokens { get; set; }

    /// <summary>All output tokens, reasoning ones included.</summary>
    public long OutputTokens { get; set; }

    public long ReasoningTokens { get; set; }

    /// <summary>True when the upstream reported no usage and the tokens were counted by TokenPool's tokenizer.</summary>
    public bool IsEstimated { get; set; }

    /// <summary>The cost at the prices below.</summary>
    public long CostMicros { get; set; }

    /// <summary>What was taken from the balance; less than the cost only where the overdraft bound stopped it.</summary>
    public long ChargedMicros { get; set; }

    public long InputMicrosPerMillion { get; set; }

    public long CachedInputMicrosPerMillion { get; set; }

    public long OutputMicrosPerMillion { get; set; }

    public int LatencyMs { get; set; }

    public int? FirstTokenMs { get; set; }

    /// <summary>Each upstream attempt as <c>channel:key:status</c>, separated by spaces.</summary>
    public string? Attempts { get; set; }

    /// <summary>Anything worth telling the owner, e.g. that reasoning items were dropped after a failover.</summary>
    public string? Note { get; set; }
}

/// <summary>Per day, account, key and model totals, kept up to date with each batch of usage records.</summary>
internal sealed class UsageDaily
{
    public DateOnly Day { get; set; }

    public long AccountId { get; set; }

    public long KeyId { get; set; }

    public required string Model { get; set; }

    public long Requests { get; set; }

    public long InputTokens { get; set; }

    public long CachedInputTokens { get; set; }

    public long OutputTokens { get; set; }

    public long ReasoningTokens { get; set; }

    public long ChargedMicros { get; set; }
}
