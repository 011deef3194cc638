using TokenPool.Gateway.Translation;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// Where routing and the relay find a bridge between two APIs: <see cref="Bridges.Find"/>, unless the server was
/// built with another source (the seam's tests carry requests over a test bridge this way). The same API on both
/// sides never has one: such a request passes through.
/// </summary>
internal sealed class BridgeSource(Func<ApiKind, ApiKind, IBridge?>? find = null)
{
    private readonly Func<ApiKind, ApiKind, IBridge?> _find = find ?? Bridges.Find;

    public IBridge? Find(ApiKind client, ApiKind upstream) => client == upstream ? null : _find(client, upstream);
}
