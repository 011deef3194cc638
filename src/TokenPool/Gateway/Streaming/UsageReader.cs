using System.Text.Json;
using TokenPool.Billing;

namespace TokenPool.Gateway.Streaming;

/// <summary>
/// Reads a usage object as either API reports it, without allocating:
/// Responses <c>{input_tokens, input_tokens_details.cached_tokens, output_tokens, output_tokens_details.reasoning_tokens}</c>,
/// Chat Completions <c>{prompt_tokens, prompt_tokens_details.cached_tokens, completion_tokens, completion_tokens_details.reasoning_tokens}</c>.
/// </summary>
internal static class UsageReader
{
    /// <summary>
    /// Finds <c>usage</c> in a JSON object: at the top level, or inside <c>response</c> when
    /// <paramref name="insideResponse"/> (Responses stream events). A count that is not a whole number
    /// comes back as -1, which makes the usage implausible and so never billed as reported.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> json, bool insideResponse, out TokenUsage usage)
    {
        usage = default;
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            if (insideResponse)
            {
                if (!SeekProperty(ref reader, "response"u8) || reader.TokenType != JsonTokenType.StartObject)
                {
                    return false;
                }
            }

            if (!SeekProperty(ref reader, "usage"u8) || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            usage = ReadUsageObject(ref reader);
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Reads <c>error.code</c> and <c>error.message</c> of a <c>response.failed</c> event or an error body.</summary>
    public static (string? Code, string? Message) ReadError(ReadOnlySpan<byte> json, bool insideResponse)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            if (insideResponse && (!SeekProperty(ref reader, "response"u8) || reader.TokenType != JsonTokenType.StartObject))
            {
                return default;
            }

            if (!SeekProperty(ref reader, "error"u8) || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            string? code = null;
            string? message = null;
            var depth = reader.CurrentDepth;
            while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                var isCode = reader.ValueTextEquals("code"u8);
                var isMessage = reader.ValueTextEquals("message"u8);
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    if (isCode)
                    {
                        code = reader.GetString();
                    }
                    else if (isMessage)
                    {
                        message = reader.GetString();
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            return (code, message);
        }
        catch (JsonException)
        {
            return default;
        }
    }

    /// <summary>
    /// Reads an error body's <c>type</c>, <c>code</c>, <c>message</c> and <c>param</c>: OpenAI's and Anthropic's
    /// <c>{"error":{…}}</c>, an <c>{"error":"text"}</c>, or SGLang's flat <c>{"object":"error",…}</c>. A numeric code
    /// (vLLM's) comes back as its digits.
    /// </summary>
    public static Dialects.UpstreamErrorBody ReadErrorBody(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            string? type = null, code = null, message = null, param = null;
            var flat = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("error"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String)
                    {
                        message = reader.GetString();
                    }
                    else if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        ReadErrorFields(ref reader, ref type, ref code, ref message, ref param);
                        return new(type, code, message, param);
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("object"u8))
                {
                    reader.Read();
                    flat = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("error"u8);
                }
                else if (reader.ValueTextEquals("message"u8) || reader.ValueTextEquals("type"u8) || reader.ValueTextEquals("code"u8) || reader.ValueTextEquals("param"u8))
                {
                    var which = reader.GetString();
                    reader.Read();
                    var value = ScalarText(ref reader);
                    switch (which)
                    {
                        case "message": message ??= value; break;
                        case "type": type = value; break;
                        case "code": code = value; break;
                        default: param = value; break;
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            // A flat error names itself; otherwise only an "error" member makes the body an error.
            return flat || message is not null && type is null && code is null ? new(type, code, message, param) : default;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return default;
        }
    }

    private static void ReadErrorFields(ref Utf8JsonReader reader, ref string? type, ref string? code, ref string? message, ref string? param)
    {
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }

            var name = reader.GetString();
            reader.Read();
            var value = ScalarText(ref reader);
            switch (name)
            {
                case "type": type = value; break;
                case "code": code = value; break;
                case "message": message = value; break;
                case "param": param = value; break;
            }
        }
    }

    /// <summary>A string's text or a number's digits; null (after skipping it) for anything else.</summary>
    private static string? ScalarText(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return reader.GetString();
            case JsonTokenType.Number:
                return System.Text.Encoding.UTF8.GetString(reader.ValueSpan);
            default:
                reader.Skip();
                return null;
        }
    }

    /// <summary>Reads <c>response.id</c> and <c>response.created_at</c> from a <c>response.created</c> event, or the top level of a body.</summary>
    public static (string? Id, long? CreatedAt) ReadResponseId(ReadOnlySpan<byte> json, bool insideResponse)
    {
        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return default;
            }

            if (insideResponse && (!SeekProperty(ref reader, "response"u8) || reader.TokenType != JsonTokenType.StartObject))
            {
                return default;
            }

            string? id = null;
            long? createdAt = null;
            var depth = reader.CurrentDepth;
            while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    id = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("created_at"u8))
                {
                    reader.Read();
                    createdAt = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var at) ? at : null;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }

                if (id is not null && createdAt is not null)
                {
                    break;
                }
            }

            return (id, createdAt);
        }
        catch (JsonException)
        {
            return default;
        }
    }

    /// <summary>The top-level <c>type</c> of an event's data, as a slice of it; empty when there is none.</summary>
    public static ReadOnlySpan<byte> EventType(ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<byte> fast = "{\"type\":\""u8;
        if (data.StartsWith(fast))
        {
            var rest = data[fast.Length..];
            var end = rest.IndexOf((byte)'"');
            return end < 0 ? default : rest[..end];
        }

        var reader = new Utf8JsonReader(data);
        try
        {
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject && SeekProperty(ref reader, "type"u8)
                && reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped)
            {
                var start = (int)reader.TokenStartIndex + 1;
                return data.Slice(start, reader.ValueSpan.Length);
            }
        }
        catch (JsonException)
        {
            // Not JSON: no type.
        }

        return default;
    }

    /// <summary>Whether a Chat Completions chunk has an empty (or null) <c>choices</c>: the extra usage-only chunk.</summary>
    public static bool HasNoChoices(ReadOnlySpan<byte> data)
    {
        var reader = new Utf8JsonReader(data);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            if (!SeekProperty(ref reader, "choices"u8))
            {
                return true;
            }

            if (reader.TokenType == JsonTokenType.Null)
            {
                return true;
            }

            return reader.TokenType == JsonTokenType.StartArray && reader.Read() && reader.TokenType == JsonTokenType.EndArray;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Moves to the value of <paramref name="name"/> among the current object's properties; false if absent.</summary>
    private static bool SeekProperty(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        var depth = reader.CurrentDepth;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth)
            {
                return false;
            }

            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1)
            {
                var match = reader.ValueTextEquals(name);
                reader.Read();
                if (match)
                {
                    return true;
                }

                reader.Skip();
            }
        }

        return false;
    }

    private static TokenUsage ReadUsageObject(ref Utf8JsonReader reader)
    {
        long input = 0, cached = 0, output = 0, reasoning = 0;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("input_tokens"u8) || reader.ValueTextEquals("prompt_tokens"u8))
            {
                reader.Read();
                input = Count(ref reader);
            }
            else if (reader.ValueTextEquals("output_tokens"u8) || reader.ValueTextEquals("completion_tokens"u8))
            {
                reader.Read();
                output = Count(ref reader);
            }
            else if (reader.ValueTextEquals("input_tokens_details"u8) || reader.ValueTextEquals("prompt_tokens_details"u8))
            {
                reader.Read();
                cached = DetailCount(ref reader, "cached_tokens"u8);
            }
            else if (reader.ValueTextEquals("output_tokens_details"u8) || reader.ValueTextEquals("completion_tokens_details"u8))
            {
                reader.Read();
                reasoning = DetailCount(ref reader, "reasoning_tokens"u8);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new TokenUsage(input, cached, output, reasoning);
    }

    private static long DetailCount(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return 0;
        }

        long value = 0;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1)
            {
                var match = reader.ValueTextEquals(name);
                reader.Read();
                if (match)
                {
                    value = Count(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
        }

        return value;
    }

    private static long Count(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.Number => reader.TryGetInt64(out var value) ? value : -1,
        JsonTokenType.Null => 0,
        _ => -1,
    };
}
