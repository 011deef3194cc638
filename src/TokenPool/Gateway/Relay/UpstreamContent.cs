using System.Net;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// A request body sent upstream from memory, which knows when the upstream has been given all of it: from then on
/// the upstream can do the whole job even if the client goes away before any answer, so the request is billed for
/// its input at least.
/// </summary>
internal sealed class UpstreamContent : HttpContent
{
    private readonly ReadOnlyMemory<byte> _body;
    private volatile bool _sent;

    public UpstreamContent(ReadOnlyMemory<byte> body)
    {
        _body = body;
        Headers.TryAddWithoutValidation("Content-Type", "application/json");
    }

    /// <summary>Every byte of the body was handed to the connection.</summary>
    public bool Sent => _sent;

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(_body, cancellationToken);
        _sent = true;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override bool TryComputeLength(out long length)
    {
        length = _body.Length;
        return true;
    }
}
