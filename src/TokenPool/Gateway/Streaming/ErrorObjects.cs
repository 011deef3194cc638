namespace TokenPool.Gateway.Streaming;

/// <summary>Finds error objects in upstream JSON without parsing it: the cheap test before anything is rewritten.</summary>
internal static class ErrorObjects
{
    /// <summary>
    /// Whether the bytes hold a JSON <c>"error":{</c> (any space before the brace; also a cut <c>"error":</c> at the
    /// very end), a string error <c>"error":"…"</c>, or SGLang's flat <c>"object":"error"</c>. A success's
    /// <c>"error":null</c> does not count, nor does an escaped <c>\"error\":</c> inside a string.
    /// </summary>
    public static bool Contain(ReadOnlySpan<byte> bytes)
    {
        var rest = bytes;
        while (true)
        {
            var at = rest.IndexOf("\"error\":"u8);
            if (at < 0)
            {
                break;
            }

            rest = rest[(at + 8)..];
            var next = rest.TrimStart(" \t\r\n"u8);
            if (next.IsEmpty || next[0] is (byte)'{' or (byte)'"')
            {
                return true;
            }
        }

        return bytes.IndexOf("\"object\":\"error\""u8) >= 0;
    }
}
