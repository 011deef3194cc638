using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation;

/// <summary>
/// What translating the answer needs to know about the request: which upstream tool names stand for a custom
/// tool, Codex's tool search or a namespaced function (so a call comes back in the form the client declared), and
/// the caller's stop sequences (so a Chat upstream's <c>stop</c> can be told apart from a matched sequence).
/// It also bounds the usage written into the translated answer (<see cref="OwnUsage"/>). Made by
/// <see cref="IBridge.TranslateRequest"/>; the seam hands it back through <see cref="BridgeOptions.Context"/>.
/// </summary>
internal sealed class BridgeContext
{
    public static readonly BridgeContext Empty = new();

    private readonly Dictionary<string, ToolOrigin>? _tools;

    public BridgeContext(Dictionary<string, ToolOrigin>? tools = null, IReadOnlyList<string>? stopSequences = null)
    {
        _tools = tools is { Count: > 0 } ? tools : null;
        StopSequences = stopSequences ?? [];
    }

    public IReadOnlyList<string> StopSequences { get; }

    /// <summary>
    /// The most input tokens this request can be: three quarters of a token per byte of the upstream body (no tokenizer
    /// gives more, CJK text and base64 included), 8,192 per image, and 4,096 for the chat template. Null: no bound.
    /// </summary>
    public long? InputTokenBound { get; init; }

    /// <summary>TokenPool's estimate of this request's input tokens (a quarter of a token per byte of the upstream body).</summary>
    public long EstimatedInputTokens { get; init; }

    /// <summary>The output limit written upstream; no answer can have more output than this.</summary>
    public long? OutputTokenBound { get; init; }

    /// <summary>The bound and estimate for an upstream body of <paramref name="bytes"/> with <paramref name="images"/> images.</summary>
    public static (long Bound, long Estimate) InputBounds(int bytes, int images) => ((bytes * 3L / 4) + (8192L * images) + 4096, bytes / 4L);

    /// <summary>
    /// This request's own usage, as the client must see it. Some upstreams report running totals over a conversation
    /// rather than one request's figures; written into a Codex stream, an input count above the model's window makes
    /// Codex compact the conversation after every request. A count above what this request can be is such a figure:
    /// the input is replaced by TokenPool's estimate, and the output is held to the output limit. (Billing meters the
    /// upstream's own events separately.)
    /// </summary>
    public ReplyUsage OwnUsage(in ReplyUsage usage)
    {
        var own = usage;
        if (InputTokenBound is { } bound && usage.Input > bound)
        {
            var read = Math.Min(usage.CacheRead, EstimatedInputTokens);
            own = own with { Input = EstimatedInputTokens, CacheRead = read, CacheWrite = Math.Min(usage.CacheWrite, EstimatedInputTokens - read) };
        }

        if (OutputTokenBound is { } limit && usage.Output > limit)
        {
            own = own with { Output = limit, Reasoning = Math.Min(usage.Reasoning, limit) };
        }

        return own;
    }

    /// <summary>The client's view of a tool name the upstream called; a plain function of that name when unknown.</summary>
    public ToolOrigin Resolve(string upstreamName) =>
        _tools is not null && _tools.TryGetValue(upstreamName, out var origin) ? origin : new ToolOrigin(ToolKind.Function, null, upstreamName);
}
