using System.Buffers;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// Takes credentials out of what an upstream says when it fails, before any of it reaches a client, the log or a
/// usage record. Upstreams quote keys in their error messages ("Invalid request for key Bearer sk-… org-…"), so
/// TokenPool never relays an upstream's error text as it came:
/// <list type="number">
/// <item>the channel's own key is removed wherever it appears (and its last eight characters on their own);</item>
/// <item>anything shaped like a credential is removed: <c>Bearer …</c>, <c>sk-…</c>/<c>rk-…</c>/<c>pk-…</c> keys,
/// organisation and project ids (<c>org-…</c>, <c>proj_…</c>), JSON web tokens, AWS, Google, GitHub and Slack keys,
/// <c>api_key=…</c> pairs, and any run of 32 or more letters and digits that mixes both;</item>
/// <item>the message is cut to <see cref="MaxMessageChars"/> characters;</item>
/// <item>error codes, types and params pass only when they look like identifiers (<c>context_length_exceeded</c>).</item>
/// </list>
/// </summary>
internal static partial class SecretScrubber
{
    public const int MaxMessageChars = 1000;

    private const string Redacted = "[redacted]";

    /// <summary>The message with every credential in it replaced by <c>[redacted]</c>, at most <see cref="MaxMessageChars"/> long.</summary>
    public static string Scrub(string text, string? channelSecret)
    {
        if (text.Length > 8 * MaxMessageChars)
        {
            text = text[..(8 * MaxMessageChars)];
        }

        if (!string.IsNullOrEmpty(channelSecret))
        {
            text = text.Replace(channelSecret, Redacted, StringComparison.Ordinal);
            if (channelSecret.Length >= 16)
            {
                text = text.Replace(channelSecret[^8..], Redacted, StringComparison.Ordinal);
            }
        }

        text = Credential().Replace(text, Redacted);
        text = LongSecret().Replace(text, match => LooksLikeSecret(match.ValueSpan) ? Redacted : match.Value);
        return text.Length <= MaxMessageChars ? text : text[..MaxMessageChars] + "…";
    }

    /// <summary>An error code, type or param only when it looks like an identifier and not like a credential; otherwise null.</summary>
    public static string? SafeCode(string? code)
    {
        if (code is null || code.Length is 0 or > 64)
        {
            return null;
        }

        foreach (var c in code)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.'))
            {
                return null;
            }
        }

        return Credential().IsMatch(code) || (code.Length >= 32 && LooksLikeSecret(code)) ? null : code;
    }

    /// <summary>
    /// Copies an upstream's JSON error (a body or an event's data) with every string scrubbed: <c>code</c>,
    /// <c>type</c> and <c>param</c> pass through <see cref="SafeCode"/> (null when they do not pass), ids and other
    /// identifiers likewise (<c>[redacted]</c> when they do not pass), every other string through <see cref="Scrub"/>.
    /// Numbers, booleans and the shape are copied as they are.
    /// </summary>
    public static bool TryScrubJson(ReadOnlySpan<byte> json, string? channelSecret, IBufferWriter<byte> output)
    {
        var scrubbed = new ArrayBufferWriter<byte>(json.Length + 64);
        if (!TryScrubJsonInto(json, channelSecret, scrubbed))
        {
            return false;
        }

        output.Write(scrubbed.WrittenSpan);
        return true;
    }

    private static bool TryScrubJsonInto(ReadOnlySpan<byte> json, string? channelSecret, ArrayBufferWriter<byte> output)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
        using var writer = new Utf8JsonWriter(output, ApiError.WriterOptions);
        string? property = null;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        property = reader.GetString();
                        writer.WritePropertyName(property!);
                        continue;
                    case JsonTokenType.String when property is "message" or "error" or "detail" or "details":
                        writer.WriteStringValue(Scrub(reader.GetString()!, channelSecret));
                        break;
                    case JsonTokenType.String when property is "code" or "type" or "param":
                        if (SafeCode(reader.GetString()) is { } safe)
                        {
                            writer.WriteStringValue(safe);
                        }
                        else
                        {
                            writer.WriteNullValue();
                        }

                        break;
                    case JsonTokenType.String when property is "id" or "object" or "model" or "status" or "role" or "item_id" or "response_id":
                        writer.WriteStringValue(SafeId(reader.GetString()!) ?? Redacted);
                        break;
                    case JsonTokenType.String:
                        writer.WriteStringValue(Scrub(reader.GetString()!, channelSecret));
                        break;
                    case JsonTokenType.StartObject:
                        writer.WriteStartObject();
                        break;
                    case JsonTokenType.EndObject:
                        writer.WriteEndObject();
                        break;
                    case JsonTokenType.StartArray:
                        writer.WriteStartArray();
                        break;
                    case JsonTokenType.EndArray:
                        writer.WriteEndArray();
                        break;
                    case JsonTokenType.Number:
                        writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
                        break;
                    case JsonTokenType.True or JsonTokenType.False:
                        writer.WriteBooleanValue(reader.TokenType == JsonTokenType.True);
                        break;
                    case JsonTokenType.Null:
                        writer.WriteNullValue();
                        break;
                }

                property = null;
            }

            writer.Flush();
            return reader.BytesConsumed > 0 && writer.CurrentDepth == 0;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>An id (<c>resp_…</c>, <c>chatcmpl-…</c>) or a short name as it is, unless it is long or shaped like a credential.</summary>
    private static string? SafeId(string value)
    {
        if (value.Length > 128)
        {
            return null;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '-' or '.' or ':'))
            {
                return null;
            }
        }

        return Credential().IsMatch(value) ? null : value;
    }

    /// <summary>Mixes letters and digits (an id or key, not a word): at least 4 digits and 4 letters.</summary>
    private static bool LooksLikeSecret(ReadOnlySpan<char> value)
    {
        int digits = 0, letters = 0;
        foreach (var c in value)
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
            }
            else if (char.IsAsciiLetter(c))
            {
                letters++;
            }
        }

        return digits >= 4 && letters >= 4;
    }

    [GeneratedRegex(
        @"(?ix)
          \bbearer\s+[^\s""',;]+
        | \b(?:sk|rk|pk)-[a-z0-9_\-]{6,}
        | \b(?:org|user|acct)-[a-z0-9]{6,}
        | \bproj_[a-z0-9]{6,}
        | \beyJ[a-z0-9_\-]{4,}\.[a-z0-9_\-]{4,}\.[a-z0-9_\-]*
        | \b(?:AKIA|ASIA)[A-Z0-9]{16}\b
        | \bAIza[a-z0-9_\-]{20,}
        | \bgh[pousr]_[a-z0-9]{20,}
        | \bxox[abprs]-[a-z0-9\-]{10,}
        | \b(?:api[_-]?key|x-api-key|access[_-]?token|secret|password|authorization)\s*[=:]\s*[^\s""',;]+",
        RegexOptions.CultureInvariant)]
    private static partial Regex Credential();

    [GeneratedRegex(@"[A-Za-z0-9_\-+/=]{32,}", RegexOptions.CultureInvariant)]
    private static partial Regex LongSecret();
}
