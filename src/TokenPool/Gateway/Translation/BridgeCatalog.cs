namespace TokenPool.Gateway.Translation;

/// <summary>
/// The bridges TokenPool has: one for every pair of different APIs (Responses, Chat Completions, Messages), all
/// through the pivot model (<see cref="TranslationBridge"/>). A pair of the same API has none: bytes pass through.
/// </summary>
internal sealed class BridgeCatalog
{
    private readonly IBridge[] _bridges;

    public BridgeCatalog(ReasoningSeal seal)
    {
        var apis = Enum.GetValues<ApiKind>();
        _bridges = [.. from client in apis from upstream in apis where client != upstream select (IBridge)new TranslationBridge(client, upstream, seal)];
    }

    public IBridge? Find(ApiKind client, ApiKind upstream)
    {
        foreach (var bridge in _bridges)
        {
            if (bridge.Client == client && bridge.Upstream == upstream)
            {
                return bridge;
            }
        }

        return null;
    }
}
