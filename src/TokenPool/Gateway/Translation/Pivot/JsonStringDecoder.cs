using System.Buffers;
using System.Text;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// Decodes escaped JSON string content to UTF-8, fragment by fragment: a surrogate pair whose halves arrive in two
/// fragments is joined. Used where a value nested in a string must be read as it streams (a custom tool's
/// input inside its JSON arguments).
/// </summary>
internal struct JsonStringDecoder
{
    private int _pendingHighSurrogate;

    public void Decode(ReadOnlySpan<byte> escaped, IBufferWriter<byte> output)
    {
        while (!escaped.IsEmpty)
        {
            var slash = escaped.IndexOf((byte)'\\');
            var plain = slash < 0 ? escaped : escaped[..slash];
            if (!plain.IsEmpty)
            {
                FlushPending(output);
                output.Write(plain);
            }

            if (slash < 0)
            {
                return;
            }

            escaped = escaped[slash..];
            if (escaped.Length < 2)
            {
                return;
            }

            var kind = escaped[1];
            if (kind == (byte)'u')
            {
                if (escaped.Length < 6 || !TryHex(escaped.Slice(2, 4), out var unit))
                {
                    return;
                }

                escaped = escaped[6..];
                if (unit is >= 0xD800 and <= 0xDBFF)
                {
                    FlushPending(output);
                    _pendingHighSurrogate = unit;
                }
                else if (unit is >= 0xDC00 and <= 0xDFFF && _pendingHighSurrogate != 0)
                {
                    WriteRune(new Rune((char)_pendingHighSurrogate, (char)unit), output);
                    _pendingHighSurrogate = 0;
                }
                else
                {
                    FlushPending(output);
                    WriteRune(Rune.IsValid(unit) ? new Rune(unit) : Rune.ReplacementChar, output);
                }

                continue;
            }

            FlushPending(output);
            byte decoded = kind switch
            {
                (byte)'n' => (byte)'\n',
                (byte)'r' => (byte)'\r',
                (byte)'t' => (byte)'\t',
                (byte)'b' => (byte)'\b',
                (byte)'f' => (byte)'\f',
                _ => kind,
            };
            output.Write([decoded]);
            escaped = escaped[2..];
        }
    }

    private void FlushPending(IBufferWriter<byte> output)
    {
        if (_pendingHighSurrogate != 0)
        {
            _pendingHighSurrogate = 0;
            WriteRune(Rune.ReplacementChar, output);
        }
    }

    private static void WriteRune(Rune rune, IBufferWriter<byte> output)
    {
        Span<byte> utf8 = stackalloc byte[4];
        var length = rune.EncodeToUtf8(utf8);
        output.Write(utf8[..length]);
    }

    private static bool TryHex(ReadOnlySpan<byte> hex, out int value)
    {
        value = 0;
        foreach (var b in hex)
        {
            int digit = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
                _ => -1,
            };
            if (digit < 0)
            {
                return false;
            }

            value = (value << 4) | digit;
        }

        return true;
    }
}
