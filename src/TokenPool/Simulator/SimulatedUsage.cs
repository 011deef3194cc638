namespace TokenPool.Simulator;

/// <summary>
/// The usage the simulated model reports for one request. <see cref="Input"/> counts the whole prompt
/// (cached and cache-written tokens included, as OpenAI counts it); Anthropic's wire form subtracts them.
/// <see cref="Output"/> includes <see cref="Reasoning"/>.
/// </summary>
internal sealed record SimulatedUsage(long Input, long Cached, long Output, long Reasoning, long CacheWrite5m = 0, long CacheWrite1h = 0)
{
    /// <summary>Prompt tokens neither read from nor written to a cache (Anthropic's <c>input_tokens</c>).</summary>
    public long Uncached => Math.Max(0, Input - Cached - CacheWrite5m - CacheWrite1h);

    public long Total => Input + Output;
}
