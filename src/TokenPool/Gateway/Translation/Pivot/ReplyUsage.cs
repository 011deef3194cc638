namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// One request's token counts as the upstream reported them, in one shape for every API.
/// <see cref="Input"/> counts every input token: uncached, read from cache and written to cache.
/// <see cref="Output"/> includes <see cref="Reasoning"/>.
/// </summary>
/// <remarks>
/// How each API's fields map (the writers use the same table backwards):
/// <list type="table">
/// <item><term>Responses</term><description><c>input_tokens</c> = Input, <c>input_tokens_details.cached_tokens</c> = CacheRead, <c>output_tokens</c> = Output, <c>output_tokens_details.reasoning_tokens</c> = Reasoning.</description></item>
/// <item><term>Chat</term><description><c>prompt_tokens</c> = Input; <c>prompt_tokens_details.cached_tokens</c>, else DeepSeek's <c>prompt_cache_hit_tokens</c> = CacheRead; <c>completion_tokens</c> = Output; <c>completion_tokens_details.reasoning_tokens</c>, else SGLang's top-level <c>reasoning_tokens</c> = Reasoning.</description></item>
/// <item><term>Messages</term><description><c>input_tokens</c> + <c>cache_read_input_tokens</c> + <c>cache_creation_input_tokens</c> = Input; <c>cache_read_input_tokens</c> = CacheRead; <c>cache_creation_input_tokens</c> = CacheWrite; <c>output_tokens</c> = Output (Anthropic does not report reasoning separately).</description></item>
/// </list>
/// </remarks>
internal readonly record struct ReplyUsage(long Input, long CacheRead, long CacheWrite, long Output, long Reasoning)
{
    public long Total => Input + Output;

    /// <summary>Input neither read from nor written to a cache: Anthropic's <c>input_tokens</c>.</summary>
    public long Uncached => Math.Max(0, Input - CacheRead - CacheWrite);
}
