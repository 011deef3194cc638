namespace TokenPool.Billing;

/// <summary>Token counts of one request. Input includes cached input; output includes reasoning.</summary>
internal readonly record struct TokenUsage(long InputTokens, long CachedInputTokens, long OutputTokens, long ReasoningTokens)
{
    /// <summary>Above this many tokens in one request a reported count is treated as nonsense.</summary>
    public const long AbsurdTokens = 100_000_000;

    /// <summary>
    /// True when the counts can be billed: none negative, none absurd, cached within input and
    /// reasoning within output. Anything else is replaced by TokenPool's own estimate.
    /// </summary>
    public bool IsPlausible =>
        InputTokens is >= 0 and <= AbsurdTokens
        && OutputTokens is >= 0 and <= AbsurdTokens
        && CachedInputTokens >= 0 && CachedInputTokens <= InputTokens
        && ReasoningTokens >= 0 && ReasoningTokens <= OutputTokens;
}

internal static class Pricing
{
    /// <summary>
    /// Cost in micro-dollars: uncached input, cached input and output at their prices per million tokens,
    /// summed exactly, then rounded up to the next whole micro-dollar.
    /// </summary>
    public static long Cost(TokenUsage usage, ModelPrice price) =>
        Cost(usage, price.InputMicrosPerMillion, price.CachedInputMicrosPerMillion, price.OutputMicrosPerMillion);

    public static long Cost(TokenUsage usage, long inputPerMillion, long cachedPerMillion, long outputPerMillion)
    {
        var uncached = Math.Max(0, usage.InputTokens - usage.CachedInputTokens);
        var cached = Math.Max(0, Math.Min(usage.CachedInputTokens, usage.InputTokens));
        var output = Math.Max(0, usage.OutputTokens);
        Int128 numerator = (Int128)uncached * inputPerMillion + (Int128)cached * cachedPerMillion + (Int128)output * outputPerMillion;
        var micros = (numerator + 999_999) / 1_000_000;
        return micros > long.MaxValue ? long.MaxValue : (long)micros;
    }
}
