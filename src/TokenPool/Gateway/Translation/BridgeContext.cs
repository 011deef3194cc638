using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation;

/// <summary>
/// What translating the answer needs to know about the request: which upstream tool names stand for a custom
/// tool, Codex's tool search or a namespaced function (so a call comes back in the form the client declared), and
/// the caller's stop sequences (so a Chat upstream's <c>stop</c> can be told apart from a matched sequence).
/// Made by <see cref="IBridge.TranslateRequest"/>; the seam hands it back through <see cref="BridgeOptions.Context"/>.
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

    /// <summary>The client's view of a tool name the upstream called; a plain function of that name when unknown.</summary>
    public ToolOrigin Resolve(string upstreamName) =>
        _tools is not null && _tools.TryGetValue(upstreamName, out var origin) ? origin : new ToolOrigin(ToolKind.Function, null, upstreamName);
}
