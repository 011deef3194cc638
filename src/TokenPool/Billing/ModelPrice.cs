namespace TokenPool.Billing;

/// <summary>
/// A model in the catalogue with its prices in micro-dollars per million tokens. Reasoning tokens are
/// output tokens. A usage record copies the prices it was charged at, so a price change applies to new
/// requests only.
/// </summary>
internal sealed class ModelPrice
{
    public required string Model { get; set; }

    public string? Description { get; set; }

    public long InputMicrosPerMillion { get; set; }

    public long CachedInputMicrosPerMillion { get; set; }

    public long OutputMicrosPerMillion { get; set; }

    /// <summary>
    /// Output tokens held in reserve for a request that does not set <c>max_output_tokens</c>.
    /// A longer answer is still charged in full, within the account's overdraft bound.
    /// </summary>
    public int ReserveOutputTokens { get; set; }

    public int? ContextWindow { get; set; }

    public DateTime UpdatedAt { get; set; }
}
