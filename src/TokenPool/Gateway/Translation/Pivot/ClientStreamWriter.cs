using System.Buffers;
using System.Text.Json;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// The base of each client API's stream writer: it receives an answer's events (<see cref="IReplySink"/>) and
/// writes the client's server-sent events into the buffer the seam gives for each upstream chunk. One
/// <see cref="Utf8JsonWriter"/> is reused for every event; nothing is kept but the open items' text.
/// </summary>
internal abstract class ClientStreamWriter : IReplySink, IDisposable
{
    private static readonly JsonWriterOptions JsonOptions = new()
    {
        Encoder = ApiError.WriterOptions.Encoder,
        SkipValidation = true,
    };

    private readonly Utf8JsonWriter _json;
    private IBufferWriter<byte> _output;

    protected ClientStreamWriter(BridgeOptions options)
    {
        Options = options;
        Context = options.Context ?? BridgeContext.Empty;
        _output = Scratch;
        _json = new Utf8JsonWriter(Scratch, JsonOptions);
    }

    protected BridgeOptions Options { get; }

    protected BridgeContext Context { get; }

    /// <summary>A small buffer for quoting escaped text (see <see cref="JsonText.WriteEscapedValue"/>).</summary>
    protected ByteBuffer Scratch { get; } = new();

    /// <summary>The client's stream has had its terminal event.</summary>
    public bool Ended { get; protected set; }

    /// <summary>Whether the upstream has said why it stopped (so a stream cut after that is still a proper end).</summary>
    public abstract bool HasFinish { get; }

    /// <summary>Where the next events go: the seam's buffer for the current upstream chunk.</summary>
    public void SetOutput(IBufferWriter<byte> output) => _output = output;

    /// <summary>The upstream's stream has begun: APIs that announce a response at once (Responses, Messages) do it now.</summary>
    public virtual void Begin()
    {
    }

    public abstract void Reasoning(ReadOnlySpan<byte> text);

    public abstract void ReasoningOrigin(ReasoningOrigin origin, ReadOnlySpan<byte> blob);

    public abstract void ReasoningEnd();

    public abstract void Text(ReadOnlySpan<byte> text);

    public abstract void ToolCall(int key, string callId, string name);

    public abstract void ToolArguments(int key, ReadOnlySpan<byte> fragment);

    public abstract void ToolCallEnd(int key);

    public abstract void Usage(in ReplyUsage usage);

    public abstract void Finish(FinishReason reason, string? stopSequence);

    public abstract void Failed(ApiError error);

    public abstract void Completed();

    public virtual void Dispose()
    {
        _json.Dispose();
        Scratch.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Starts an event (<c>event: name</c> when the API names its events) and returns the writer for its data.</summary>
    protected Utf8JsonWriter BeginEvent(ReadOnlySpan<byte> name)
    {
        if (!name.IsEmpty)
        {
            _output.Write("event: "u8);
            _output.Write(name);
            _output.Write("\ndata: "u8);
        }
        else
        {
            _output.Write("data: "u8);
        }

        _json.Reset(_output);
        return _json;
    }

    protected void EndEvent()
    {
        _json.Flush();
        _output.Write("\n\n"u8);
    }

    /// <summary>Bytes written as they are (a Chat stream's <c>data: [DONE]</c>).</summary>
    protected void WriteRaw(ReadOnlySpan<byte> bytes) => _output.Write(bytes);

    protected void WriteEscaped(Utf8JsonWriter json, ReadOnlySpan<byte> name, ReadOnlySpan<byte> escaped) =>
        JsonText.WriteEscaped(json, name, escaped, Scratch);
}
