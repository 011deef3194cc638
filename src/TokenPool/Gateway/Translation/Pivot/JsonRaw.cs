using System.Runtime.InteropServices;
using System.Text.Json;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>The escaped content of a string in a parsed document, without decoding it (for the whole-body readers).</summary>
internal static class JsonRaw
{
    public static ReadOnlySpan<byte> Escaped(JsonElement element) =>
        element.ValueKind == JsonValueKind.String ? JsonMarshal.GetRawUtf8Value(element)[1..^1] : default;

    public static ReadOnlySpan<byte> Escaped(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value) ? Escaped(value) : default;

    /// <summary>A whole value's JSON text escaped as string content (an Anthropic <c>input</c> object as Chat-style arguments).</summary>
    public static byte[] AsEscapedString(JsonElement element) => JsonText.Escape(element.GetRawText());
}
