using System.Buffers;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation;

/// <summary>
/// One bridged stream: the upstream API's reader cuts the upstream's bytes into events and reads them into answer
/// events; the client API's writer turns those into the client's events, written into the buffer the seam gives
/// with each chunk. Nothing waits for the end of the answer.
/// </summary>
internal sealed class StreamTranslator(UpstreamStreamReader reader, ClientStreamWriter writer) : IStreamTranslator
{
    private bool _begun;

    public bool Ended => writer.Ended;

    public void Write(ReadOnlySpan<byte> upstream, IBufferWriter<byte> client)
    {
        if (writer.Ended)
        {
            return;
        }

        writer.SetOutput(client);
        if (!_begun && !upstream.IsEmpty)
        {
            _begun = true;
            writer.Begin();
        }

        reader.Feed(upstream);
    }

    /// <summary>
    /// Ends the client's stream: a failure given by the seam ends it with the client API's terminal error; otherwise
    /// an upstream that said why it stopped (even without its final marker) ends it normally, and one that did not
    /// was cut, which ends it with the terminal error too.
    /// </summary>
    public void Complete(IBufferWriter<byte> client, ApiError? failure)
    {
        if (writer.Ended)
        {
            return;
        }

        writer.SetOutput(client);
        if (failure is not null)
        {
            writer.Failed(failure);
            return;
        }

        reader.Flush();
        if (writer.Ended)
        {
            return;
        }

        if (writer.HasFinish)
        {
            writer.Completed();
        }
        else
        {
            writer.Failed(GatewayErrors.StreamCut());
        }
    }

    public void Dispose()
    {
        reader.Dispose();
        writer.Dispose();
    }
}
