using System.Buffers;
using System.Text.Json;

namespace TokenPool.Simulator;

/// <summary>Helpers every wire writer shares: JSON into bytes, text split into deltas.</summary>
internal static class Wire
{
    /// <summary>Escapes only what JSON requires, as the providers' servers do (<c>\"</c>, not <c>\u0022</c>).</summary>
    private static readonly JsonWriterOptions Options = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Four deltas for a short answer; pieces of about 2,000 characters for a long one (a filled output limit).</summary>
    public static int DefaultDeltas(string text) => Math.Max(4, text.Length / 2000);

    /// <summary>Splits text into about <paramref name="pieces"/> parts without breaking surrogate pairs.</summary>
    public static IEnumerable<string> Split(string text, int pieces)
    {
        if (text.Length == 0)
        {
            yield break;
        }

        pieces = Math.Clamp(pieces, 1, text.Length);
        var size = (int)Math.Ceiling(text.Length / (double)pieces);
        for (var start = 0; start < text.Length;)
        {
            var end = Math.Min(text.Length, start + size);
            if (end < text.Length && char.IsHighSurrogate(text[end - 1]))
            {
                end++;
            }

            yield return text[start..end];
            start = end;
        }
    }

    /// <summary>Random letters and digits, as the providers' ids use.</summary>
    public static string Id(int length, bool lowercase = false)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        const string lower = "abcdefghijklmnopqrstuvwxyz0123456789";
        return System.Security.Cryptography.RandomNumberGenerator.GetString(lowercase ? lower : alphabet, length);
    }
}
