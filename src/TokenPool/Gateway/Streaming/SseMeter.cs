using System.Buffers;
using TokenPool.Billing;

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

/// <summary>What a meter does with one complete event in filter mode.</summary>
internal enum EventVerdict
{
    /// <summary>Pass the event on as it came.</summary>
    Keep,

    /// <summary>Leave the event out (a usage-only chunk the client did not ask for).</summary>
    Drop,

    /// <summary>The meter wrote its own version of the event (an upstream error with its secrets removed).</summary>
    Replaced,
}

/// <summary>
/// Follows a server-sent-event stream as it passes to the client and notes what billing needs: the
/// usage the upstream reports in its final event, the response id, how the stream ended, and the text
/// delivered so far (so that a cut stream's output can be counted). Each wire API reads its own events
/// (its dialect's subclass); this class only frames them.
/// <list type="number">
/// <item>Pass-through mode (<see cref="Observe"/>) reads bytes that were already written to the client.</item>
/// <item>Filter mode (<see cref="Filter"/>) writes every complete event the client should get: all of them but
/// a usage-only chunk TokenPool asked for on the client's behalf, with an upstream error event replaced by one
/// whose message has no credentials in it.</item>
/// </list>
/// It reads each event where it lies in the chunk, copies only an event split across chunks into one reusable pooled
/// buffer, and allocates nothing per event.
/// </summary>
internal abstract class SseMeter : IDisposable
{
    /// <summary>Delivered text kept for counting; beyond this only its length is tracked.</summary>
    private const int MaxTextBytes = 256 * 1024;

    /// <summary>An event split across chunks, gathered until it is complete (rented when the first one comes).</summary>
    private byte[] _event = [];
    private int _eventLength;
    private int _lineStart;
    private byte[]? _text;
    private int _textLength;

    /// <summary>Bytes of the event now being gathered that were already written to the client (pass-through mode).</summary>
    private int _eventWritten;
    private ArrayBufferWriter<byte>? _replacement;

    /// <summary>Events with data seen so far (the next <c>sequence_number</c> of a Responses stream).</summary>
    public int Events { get; protected set; }

    public TokenUsage? Usage { get; protected set; }

    public StreamEnd End { get; protected set; }

    public string? ResponseId { get; protected set; }

    public long? CreatedAt { get; protected set; }

    /// <summary>The upstream's error code from an error event, as it sent it (make it safe before storing it).</summary>
    public string? ErrorCode { get; protected set; }

    /// <summary>The upstream's error message from an error event, as it sent it (never show or log it unscrubbed).</summary>
    public string? ErrorMessage { get; protected set; }

    /// <summary>Whether the stream ended the way its API says a finished stream ends.</summary>
    public abstract bool Ended { get; }

    /// <summary>The upstream key the stream was requested with: filter mode removes it (and any credential) from error events.</summary>
    public string? ChannelSecret { get; init; }

    /// <summary>Bytes of text the client was sent that did not fit the counting buffer.</summary>
    public long UncountedTextBytes { get; private set; }

    /// <summary>Delivered text and arguments, JSON-escaped, for counting output tokens when no usage came.</summary>
    public ReadOnlySpan<byte> DeliveredText => _text is null ? default : _text.AsSpan(0, _textLength);

    /// <summary>Pass-through mode: reads bytes that have already been written to the client.</summary>
    public void Observe(ReadOnlySpan<byte> chunk)
    {
        Feed(chunk, null);
        _eventWritten = _eventLength;
    }

    /// <summary>
    /// Filter mode: reads bytes and writes to <paramref name="output"/> every complete event the client should get. A
    /// stream may switch from pass-through to filter mode at any chunk: the part of an event already written is not
    /// written again.
    /// </summary>
    public void Filter(ReadOnlySpan<byte> chunk, IBufferWriter<byte> output) => Feed(chunk, output);

    /// <summary>
    /// Whether the chunk may hold an event that filter mode changes (an upstream error, whose message can carry the
    /// channel's credentials). A cheap scan: pass-through streams switch to filter mode only when it says yes.
    /// </summary>
    public bool MayNeedFilter(ReadOnlySpan<byte> chunk)
    {
        if (ContainsErrorObject(chunk))
        {
            return true;
        }

        if (_eventLength == 0 || chunk.IsEmpty)
        {
            return false;
        }

        // A marker cut in two by the chunk's start: the end of the event begun earlier, then this chunk's start.
        const int Side = 24;
        Span<byte> seam = stackalloc byte[2 * Side];
        var tail = _event.AsSpan(Math.Max(0, _eventLength - Side), Math.Min(Side, _eventLength));
        var head = chunk[..Math.Min(Side, chunk.Length)];
        tail.CopyTo(seam);
        head.CopyTo(seam[tail.Length..]);
        return ContainsErrorObject(seam[..(tail.Length + head.Length)]);
    }

    /// <summary>
    /// Reads one complete event. In filter mode (<paramref name="filtering"/>) it also says what the client gets; a
    /// replaced event is written to <see cref="Replacement"/>. In pass-through mode the verdict is not used.
    /// </summary>
    protected abstract EventVerdict OnEvent(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data, bool filtering);

    /// <summary>Whether the bytes hold an error object (see <see cref="ErrorObjects.Contain"/>).</summary>
    protected static bool ContainsErrorObject(ReadOnlySpan<byte> bytes) => ErrorObjects.Contain(bytes);

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
                _eventWritten = 0;
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
                var verdict = data.IsEmpty ? EventVerdict.Keep : OnEvent(name, data, output is not null);
                if (output is not null)
                {
                    WriteFiltered(bytes[eventStart..position], verdict, output);
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

    /// <summary>
    /// Writes one event in filter mode. An event whose start was already written in pass-through mode gets only its
    /// rest; if it is dropped or replaced instead, its written start is closed off as an event of its own (clients
    /// skip it as unreadable) and the replacement follows, so no byte of the original follows its start.
    /// </summary>
    private void WriteFiltered(ReadOnlySpan<byte> raw, EventVerdict verdict, IBufferWriter<byte> output)
    {
        var written = Math.Min(_eventWritten, raw.Length);
        if (verdict == EventVerdict.Keep)
        {
            output.Write(raw[written..]);
            return;
        }

        if (written > 0)
        {
            output.Write(raw[written - 1] == (byte)'\n' ? "\n"u8 : "\n\n"u8);
        }

        if (verdict == EventVerdict.Replaced && _replacement is { WrittenCount: > 0 } replacement)
        {
            output.Write(replacement.WrittenSpan);
            replacement.ResetWrittenCount();
        }
    }

    /// <summary>Where <see cref="OnEvent"/> writes an event it replaces (made on first use: upstream errors are rare).</summary>
    protected IBufferWriter<byte> Replacement => _replacement ??= new ArrayBufferWriter<byte>(512);

    /// <summary>
    /// Replaces an upstream error event by the same event with credentials taken out of its strings (see
    /// <see cref="Relay.SecretScrubber"/>); an event that is not JSON is left out.
    /// </summary>
    protected EventVerdict ReplaceWithScrubbed(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data)
    {
        var scrubbed = new ArrayBufferWriter<byte>(data.Length + 64);
        if (!Relay.SecretScrubber.TryScrubJson(data, ChannelSecret, scrubbed))
        {
            return EventVerdict.Drop;
        }

        var output = Replacement;
        if (!name.IsEmpty)
        {
            output.Write("event: "u8);
            output.Write(name);
            output.Write("\n"u8);
        }

        output.Write("data: "u8);
        output.Write(scrubbed.WrittenSpan);
        output.Write("\n\n"u8);
        return EventVerdict.Replaced;
    }

    protected void ReadUsage(ReadOnlySpan<byte> data, bool insideResponse)
    {
        if (UsageReader.TryRead(data, insideResponse, out var usage))
        {
            Usage = usage;
        }
    }

    /// <summary>Copies every JSON string value that follows <paramref name="marker"/> (still escaped) into the text buffer.</summary>
    protected void AppendStringValue(ReadOnlySpan<byte> data, ReadOnlySpan<byte> marker)
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

    protected static string? ReadTopLevelErrorCode(ReadOnlySpan<byte> data)
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
