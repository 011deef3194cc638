using System.Buffers;
using System.Text;
using System.Text.Json;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// Helpers for JSON string content kept in its escaped form (as it lies between the quotes in the upstream's
/// bytes): decoding it when a value must be understood, and escaping decoded text again.
/// </summary>
internal static class JsonText
{
    /// <summary>Decodes escaped JSON string content to a .NET string.</summary>
    public static string Decode(ReadOnlySpan<byte> escaped)
    {
        if (escaped.IndexOf((byte)'\\') < 0)
        {
            return Encoding.UTF8.GetString(escaped);
        }

        var buffer = new ArrayBufferWriter<byte>(escaped.Length);
        var decoder = new JsonStringDecoder();
        decoder.Decode(escaped, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Escapes a .NET string as JSON string content (no quotes).</summary>
    public static byte[] Escape(string text)
    {
        var buffer = new ArrayBufferWriter<byte>(text.Length + 16);
        using (var writer = new Utf8JsonWriter(buffer, ApiError.WriterOptions))
        {
            writer.WriteStringValue(text);
        }

        return buffer.WrittenSpan[1..^1].ToArray();
    }

    /// <summary>Writes a string value whose content is already escaped, without escaping it again.</summary>
    public static void WriteEscaped(Utf8JsonWriter writer, ReadOnlySpan<byte> name, ReadOnlySpan<byte> escaped, ByteBuffer scratch)
    {
        writer.WritePropertyName(name);
        WriteEscapedValue(writer, escaped, scratch);
    }

    public static void WriteEscapedValue(Utf8JsonWriter writer, ReadOnlySpan<byte> escaped, ByteBuffer scratch)
    {
        scratch.Clear();
        scratch.Append((byte)'"');
        scratch.Append(escaped);
        scratch.Append((byte)'"');
        writer.WriteRawValue(scratch.Span, skipInputValidation: true);
    }
}
