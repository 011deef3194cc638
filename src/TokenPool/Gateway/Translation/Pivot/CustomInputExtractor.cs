using System.Text.Json;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// A custom (free-form) tool reaches a Chat or Messages upstream as a function with one string argument,
/// <c>input</c>. This reads that argument out of the call's JSON arguments as they stream, so the client gets
/// <c>response.custom_tool_call_input.delta</c> events at once rather than one piece at the end.
/// <list type="number">
/// <item>Each fragment (escaped JSON string content) is decoded to the arguments' text.</item>
/// <item>The text must open with <c>{"input":"</c> (whitespace allowed); then the string's content is passed on as it
/// is (it is already escaped JSON string content), holding back an escape cut by the fragment's end, and raw
/// control characters (invalid JSON a model may write) escaped.</item>
/// <item>Anything else (another key first, no JSON at all) stops streaming: <see cref="Finish"/> then reads the whole
/// arguments, or takes them as the raw input.</item>
/// </list>
/// </summary>
internal sealed class CustomInputExtractor : IDisposable
{
    private enum State
    {
        OpenBrace,
        KeyQuote,
        Key,
        Colon,
        ValueQuote,
        Value,
        AfterValue,
        Failed,
    }

    private readonly ByteBuffer _decoded = new();
    private readonly ByteBuffer _input = new();
    private readonly ByteBuffer _key = new();
    private JsonStringDecoder _decoder;
    private State _state;
    private int _scanned;

    /// <summary>The arguments text decoded so far.</summary>
    public ReadOnlySpan<byte> Arguments => _decoded.Span;

    /// <summary>Decodes one fragment and writes the input it completes (escaped) into <paramref name="delta"/>.</summary>
    public void Feed(ReadOnlySpan<byte> fragment, ByteBuffer delta)
    {
        delta.Clear();
        _decoder.Decode(fragment, _decoded);
        var text = _decoded.Span;
        while (_scanned < text.Length && _state is not (State.Failed or State.AfterValue))
        {
            var b = text[_scanned];
            switch (_state)
            {
                case State.OpenBrace:
                    _state = IsSpace(b) ? State.OpenBrace : b == (byte)'{' ? State.KeyQuote : State.Failed;
                    break;
                case State.KeyQuote:
                    _state = IsSpace(b) ? State.KeyQuote : b == (byte)'"' ? State.Key : State.Failed;
                    break;
                case State.Key:
                    if (b == (byte)'"')
                    {
                        _state = _key.Span.SequenceEqual("input"u8) ? State.Colon : State.Failed;
                    }
                    else
                    {
                        _key.Append(b);
                        _state = _key.Length > 5 ? State.Failed : State.Key;
                    }

                    break;
                case State.Colon:
                    _state = IsSpace(b) ? State.Colon : b == (byte)':' ? State.ValueQuote : State.Failed;
                    break;
                case State.ValueQuote:
                    _state = IsSpace(b) ? State.ValueQuote : b == (byte)'"' ? State.Value : State.Failed;
                    break;
                case State.Value:
                    var next = ReadValue(text, _scanned, delta);
                    if (next == _scanned && _state == State.Value)
                    {
                        return;
                    }

                    _scanned = next;
                    continue;
            }

            _scanned++;
        }
    }

    /// <summary>The whole input (escaped JSON string content), once the arguments are complete.</summary>
    public ReadOnlySpan<byte> Finish()
    {
        if (_state == State.AfterValue)
        {
            return _input.Span;
        }

        // Not streamed as expected: read the arguments whole, or take them as the raw input.
        var text = _decoded.Span;
        try
        {
            var reader = new Utf8JsonReader(text);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isInput = reader.ValueTextEquals("input"u8);
                    reader.Read();
                    if (isInput && reader.TokenType == JsonTokenType.String)
                    {
                        _input.Clear();
                        _input.Append(reader.ValueSpan);
                        return _input.Span;
                    }

                    reader.Skip();
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON: the model wrote the input itself.
        }

        _input.Clear();
        _input.Append(JsonText.Escape(System.Text.Encoding.UTF8.GetString(text)));
        return _input.Span;
    }

    public void Dispose()
    {
        _decoded.Dispose();
        _input.Dispose();
        _key.Dispose();
    }

    private int ReadValue(ReadOnlySpan<byte> text, int at, ByteBuffer delta)
    {
        while (at < text.Length)
        {
            var b = text[at];
            if (b == (byte)'"')
            {
                _state = State.AfterValue;
                return at + 1;
            }

            if (b == (byte)'\\')
            {
                var needed = EscapeLength(text[at..]);
                if (needed == 0)
                {
                    return at;
                }

                Emit(text.Slice(at, needed), delta);
                at += needed;
                continue;
            }

            if (b < 0x20)
            {
                ReadOnlySpan<byte> escaped = b switch
                {
                    (byte)'\n' => "\\n"u8,
                    (byte)'\r' => "\\r"u8,
                    (byte)'\t' => "\\t"u8,
                    _ => [(byte)'\\', (byte)'u', (byte)'0', (byte)'0', Hex(b >> 4), Hex(b & 0xF)],
                };
                Emit(escaped, delta);
            }
            else
            {
                var run = at + 1;
                while (run < text.Length && text[run] >= 0x20 && text[run] != (byte)'"' && text[run] != (byte)'\\')
                {
                    run++;
                }

                Emit(text[at..run], delta);
                at = run;
                continue;
            }

            at++;
        }

        return at;
    }

    private void Emit(ReadOnlySpan<byte> escaped, ByteBuffer delta)
    {
        delta.Append(escaped);
        _input.Append(escaped);
    }

    /// <summary>How many bytes the escape at the start of <paramref name="text"/> takes; 0 when it is not all there yet.</summary>
    private static int EscapeLength(ReadOnlySpan<byte> text)
    {
        if (text.Length < 2)
        {
            return 0;
        }

        if (text[1] != (byte)'u')
        {
            return 2;
        }

        if (text.Length < 6)
        {
            return 0;
        }

        // A high surrogate waits for its low half, so no event carries half a character.
        var isHigh = (text[2] | 0x20) == (byte)'d' && text[3] is (byte)'8' or (byte)'9' or (byte)'a' or (byte)'b' or (byte)'A' or (byte)'B';
        if (!isHigh)
        {
            return 6;
        }

        if (text.Length < 8)
        {
            return 0;
        }

        if (text[6] != (byte)'\\' || text[7] != (byte)'u')
        {
            return 6;
        }

        return text.Length >= 12 ? 12 : 0;
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t';

    private static byte Hex(int value) => (byte)(value < 10 ? '0' + value : 'a' + value - 10);
}
