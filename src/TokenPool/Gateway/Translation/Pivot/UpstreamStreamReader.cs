namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// Cuts an upstream's server-sent-event bytes into events, however the bytes were cut into chunks, and hands each
/// event's name and data to the API's reader, which calls the <see cref="IReplySink"/>. Events that lie wholly in
/// a chunk are read where they are; only an event cut by a chunk's end is copied (into one pooled buffer, rented
/// when the first such event comes). Comment lines (<c>: keep-alive</c>) are skipped.
/// </summary>
internal abstract class UpstreamStreamReader : IDisposable
{
    private readonly ByteBuffer _partial = new();
    private readonly ByteBuffer _joined = new();

    protected UpstreamStreamReader(IReplySink sink) => Sink = sink;

    protected IReplySink Sink { get; }

    /// <summary>The upstream's stream reached its proper end; bytes after it are ignored.</summary>
    public bool Ended { get; protected set; }

    public void Feed(ReadOnlySpan<byte> chunk)
    {
        if (_partial.IsEmpty)
        {
            var used = ReadEvents(chunk);
            _partial.Append(chunk[used..]);
            return;
        }

        // An event began in an earlier chunk: gather up to its end (a blank line), then read on in place.
        _partial.Append(chunk);
        var consumed = ReadEvents(_partial.Span);
        if (consumed == 0)
        {
            return;
        }

        var rest = _partial.Span[consumed..];
        if (rest.IsEmpty)
        {
            _partial.Clear();
            return;
        }

        // Rare: more than one event's tail in the buffer; keep only the unread part.
        var copy = rest.ToArray();
        _partial.Clear();
        _partial.Append(copy);
    }

    /// <summary>The upstream's bytes are over: an event left without its closing blank line is read as complete.</summary>
    public void Flush()
    {
        if (!_partial.IsEmpty && !Ended)
        {
            Feed("\n\n"u8);
        }
    }

    public void Dispose()
    {
        _partial.Dispose();
        _joined.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>One complete event. <paramref name="data"/> is the event's data (several data lines joined by line feeds).</summary>
    protected abstract void OnEvent(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data);

    /// <summary>Reads the complete events at the start of <paramref name="bytes"/> and returns how many bytes they took.</summary>
    private int ReadEvents(ReadOnlySpan<byte> bytes)
    {
        ReadOnlySpan<byte> name = default;
        ReadOnlySpan<byte> data = default;
        var dataLines = 0;
        var eventStart = 0;
        var position = 0;
        while (!Ended)
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
                if (dataLines > 0)
                {
                    OnEvent(name, dataLines == 1 ? data : _joined.Span);
                }

                name = default;
                data = default;
                dataLines = 0;
                eventStart = position;
            }
            else if (line.StartsWith("data:"u8))
            {
                var value = Trim(line[5..]);
                if (dataLines == 0)
                {
                    data = value;
                }
                else
                {
                    if (dataLines == 1)
                    {
                        _joined.Clear();
                        _joined.Append(data);
                    }

                    _joined.Append((byte)'\n');
                    _joined.Append(value);
                }

                dataLines++;
            }
            else if (line.StartsWith("event:"u8))
            {
                name = Trim(line[6..]);
            }
        }

        return bytes.Length;
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> value) =>
        !value.IsEmpty && value[0] == (byte)' ' ? value[1..] : value;
}
