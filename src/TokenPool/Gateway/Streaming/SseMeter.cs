using System.Buffers;
using TokenPool.Billing;
using TokenPool.Upstreams;

namespace TokenPool.Gateway.Streaming;

/// <summary>How an upstream stream ended, as far as its own events say.</summary>
internal enum StreamEnd
{
    /// <summary>No terminal event (yet): the stream was cut if it ends like this.</summary>
    None,
    Completed,
    Incomplete,
    Failed,

    /// <summary>A Chat Completions stream's <c>data: [DONE]</c>.</summary>
    Done,
}

/// <summary>
/// Follows a server-sent-event stream as it passes to the client and notes what billing needs: the
/// usage the upstream reports in its final event, the response id, how the stream ended, and the text
/// delivered so far (so that a cut stream's output can be counted). In pass-through mode it only reads
/// bytes that were already written to the client. In filter mode (a Chat Completions stream whose usage
/// TokenPool asked for on the client's behalf) it also drops the usage-only chunk the client did not ask for.
/// It reads each event where it lies in the chunk, copies only an event split across chunks into one reusable pooled
/// buffer, and allocates nothing per event.
/// </summary>
internal sealed class SseMeter : IDisposable
{
    /// <summary>Delivered text kept for counting; beyond this only its length is tracked.</summary>
    private const int MaxTextBytes = 256 * 1024;

    private readonly ClientApiKind _api;
    private readonly bool _dropUsageOnlyChunks;
    /// <summary>An event split across chunks, gathered until it is complete (rented when the first one comes).</summary>
    private byte[] _event = [];
    private int _eventLength;
    private int _lineStart;
    private byte[]? _text;
    private int _textLength;

    public SseMeter(ClientApiKind api, bool dropUsageOnlyChunks)
    {
        _api = api;
        _dropUsageOnlyChunks = dropUsageOnlyChunks;
    }

    /// <summary>Events with data seen so far (the next <c>sequence_number</c> of a Responses stream).</summary>
    public int Events { get; private set; }

    public TokenUsage? Usage { get; private set; }

    public StreamEnd End { get; private set; }

    public string? ResponseId { get; private set; }

    public long? CreatedAt { get; private set; }

    public string? ErrorCode { get; private set; }

    public string? ErrorMessage { get; private set; }

    /// <summary>Bytes of text the client was sent that did not fit the counting buffer.</summary>
    public long UncountedTextBytes { get; private set; }

    /// <summary>Delivered text and arguments, JSON-escaped, for counting output tokens when no usage came.</summary>
    public ReadOnlySpan<byte> DeliveredText => _text is null ? default : _text.AsSpan(0, _textLength);

    /// <summary>Pass-through mode: reads bytes that have already been written to the client.</summary>
    public void Observe(ReadOnlySpan<byte> chunk) => Feed(chunk, null);

    /// <summary>Filter mode: reads bytes and writes to <paramref name="output"/> every complete event the client should get.</summary>
    public void Filter(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output) => Feed(chunk, output);

    public void Dispose()
    {
        if (_event.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_event);
            _event = [];
        }

        if (_text is not null)
        {
            ArrayPool<byte>.Shared.Return(_text);
            _text = null;
        }
    }

    private void Feed(ReadOnlySpan<byte> chunk, IBufferWriter<byte>? output)
    {
        while (!chunk.IsEmpty)
        {
            if (_eventLength == 0)
            {
                // Events that lie wholly in the chunk are read where they are; only an event cut by the chunk's end is copied.
                chunk = chunk[ReadEvents(chunk, output)..];
                if (chunk.IsEmpty)
                {
                    return;
                }
            }

            // The event begun in an earlier chunk (or cut by this one's end): gathered line by line until its blank line.
            var newline = chunk.IndexOf((byte)'\n');
            var take = newline < 0 ? chunk.Length : newline + 1;
            Append(chunk[..take]);
            chunk = chunk[take..];
            if (newline < 0)
            {
                return;
            }

            // A complete line: _event[_lineStart.._eventLength-1] (without its '\n').
            var lineLength = _eventLength - 1 - _lineStart;
            if (lineLength == 0 || (lineLength == 1 && _event[_lineStart] == (byte)'\r'))
            {
                ReadEvents(_event.AsSpan(0, _eventLength), output);
                _eventLength = 0;
                _lineStart = 0;
            }
            else
            {
                _lineStart = _eventLength;
            }
        }
    }

    /// <summary>
    /// Reads the complete events at the start of <paramref name="bytes"/> (in filter mode writing those the client
    /// should get to <paramref name="output"/>) and returns how many bytes they took.
    /// </summary>
    private int ReadEvents(ReadOnlySpan<byte> bytes, IBufferWriter<byte>? output)
    {
        ReadOnlySpan<byte> name = default;
        ReadOnlySpan<byte> data = default;
        var eventStart = 0;
        var position = 0;
        while (true)
        {
            var newline = bytes[position..].IndexOf((byte)'\n');
            if (newline < 0)
            {
                return eventStart;
            }

            var line = bytes.Slice(position, newline);
            position += newline + 1;
            if (!line.IsEmpty && line[^1] == (byte)'\r')
            {
                line = line[..^1];
            }

            if (line.IsEmpty)
            {
                var keep = data.IsEmpty || (_api == ClientApiKind.Responses ? ProcessResponsesEvent(name, data) : ProcessChatChunk(data));
                if (output is not null && keep)
                {
                    output.Write(bytes[eventStart..position]);
                }

                name = default;
                data = default;
                eventStart = position;
            }
            else if (line.StartsWith("data:"u8))
            {
                // Events with several data lines are rare; the first carries the JSON object's start, which is what is read here.
                if (data.IsEmpty)
                {
                    data = TrimField(line[5..]);
                }
            }
            else if (line.StartsWith("event:"u8))
            {
                name = TrimField(line[6..]);
            }
        }
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (_eventLength + bytes.Length > _event.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(4096, Math.Max(_event.Length * 2, _eventLength + bytes.Length)));
            _event.AsSpan(0, _eventLength).CopyTo(larger);
            if (_event.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_event);
            }

            _event = larger;
        }

        bytes.CopyTo(_event.AsSpan(_eventLength));
        _eventLength += bytes.Length;
    }

    private bool ProcessResponsesEvent(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data)
    {
        Events++;
        var type = name.IsEmpty ? UsageReader.EventType(data) : name;
        if (type.EndsWith(".delta"u8))
        {
            if (type.SequenceEqual("response.output_text.delta"u8) || type.SequenceEqual("response.function_call_arguments.delta"u8)
                || type.SequenceEqual("response.reasoning_summary_text.delta"u8) || type.SequenceEqual("response.reasoning_text.delta"u8)
                || type.SequenceEqual("response.custom_tool_call_input.delta"u8) || type.SequenceEqual("response.refusal.delta"u8))
            {
                AppendStringValue(data, "\"delta\":\""u8);
            }
        }
        else if (type.SequenceEqual("response.created"u8) || (ResponseId is null && type.SequenceEqual("response.in_progress"u8)))
        {
            if (ResponseId is null)
            {
                (ResponseId, CreatedAt) = UsageReader.ReadResponseId(data, insideResponse: true);
            }
        }
        else if (type.SequenceEqual("response.completed"u8))
        {
            End = StreamEnd.Completed;
            ReadUsage(data, insideResponse: true);
        }
        else if (type.SequenceEqual("response.incomplete"u8))
        {
            End = StreamEnd.Incomplete;
            ReadUsage(data, insideResponse: true);
        }
        else if (type.SequenceEqual("response.failed"u8))
        {
            End = StreamEnd.Failed;
            ReadUsage(data, insideResponse: true);
            (ErrorCode, ErrorMessage) = UsageReader.ReadError(data, insideResponse: true);
        }
        else if (type.SequenceEqual("error"u8))
        {
            var (code, message) = UsageReader.ReadError(data, insideResponse: false);
            ErrorCode ??= code ?? ReadTopLevelErrorCode(data);
            ErrorMessage ??= message;
        }

        return true;
    }

    private bool ProcessChatChunk(ReadOnlySpan<byte> data)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            End = StreamEnd.Done;
            return true;
        }

        Events++;
        AppendStringValue(data, "\"content\":\""u8);
        AppendStringValue(data, "\"arguments\":\""u8);
        AppendStringValue(data, "\"reasoning_content\":\""u8);
        if (data.IndexOf("\"usage\":{"u8) >= 0 || data.IndexOf("\"usage\": {"u8) >= 0)
        {
            ReadUsage(data, insideResponse: false);
            if (_dropUsageOnlyChunks && UsageReader.HasNoChoices(data))
            {
                return false;
            }
        }
        else if (data.StartsWith("{\"error\""u8))
        {
            End = StreamEnd.Failed;
            (ErrorCode, ErrorMessage) = UsageReader.ReadError(data, insideResponse: false);
        }

        return true;
    }

    private void ReadUsage(ReadOnlySpan<byte> data, bool insideResponse)
    {
        if (UsageReader.TryRead(data, insideResponse, out var usage))
        {
            Usage = usage;
        }
    }

    /// <summary>Copies every JSON string value that follows <paramref name="marker"/> (still escaped) into the text buffer.</summary>
    private void AppendStringValue(ReadOnlySpan<byte> data, ReadOnlySpan<byte> marker)
    {
        while (true)
        {
            var at = data.IndexOf(marker);
            if (at < 0)
            {
                return;
            }

            data = data[(at + marker.Length)..];
            var end = 0;
            while (end < data.Length && data[end] != (byte)'"')
            {
                end += data[end] == (byte)'\\' ? 2 : 1;
            }

            end = Math.Min(end, data.Length);
            AppendText(data[..end]);
            data = data[end..];
        }
    }

    private void AppendText(ReadOnlySpan<byte> escaped)
    {
        if (escaped.IsEmpty)
        {
            return;
        }

        if (_textLength + escaped.Length > MaxTextBytes)
        {
            UncountedTextBytes += escaped.Length;
            return;
        }

        if (_text is null || _textLength + escaped.Length > _text.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(MaxTextBytes, Math.Max(4096, (_textLength + escaped.Length) * 2)));
            if (_text is not null)
            {
                _text.AsSpan(0, _textLength).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_text);
            }

            _text = larger;
        }

        escaped.CopyTo(_text.AsSpan(_textLength));
        _textLength += escaped.Length;
    }

    private static string? ReadTopLevelErrorCode(ReadOnlySpan<byte> data)
    {
        var reader = new System.Text.Json.Utf8JsonReader(data);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType == System.Text.Json.JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("code"u8))
                {
                    reader.Read();
                    return reader.TokenType == System.Text.Json.JsonTokenType.String ? reader.GetString() : null;
                }
            }
        }
        catch (System.Text.Json.JsonException)
        {
            // Not JSON.
        }

        return null;
    }

    private static ReadOnlySpan<byte> TrimField(ReadOnlySpan<byte> value) =>
        !value.IsEmpty && value[0] == (byte)' ' ? value[1..] : value;
}
