using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenPool.Gateway;

/// <summary>The few request fields that money and routing depend on. Everything else passes through unread.</summary>
internal sealed class RequestFacts
{
    public string? Model { get; set; }

    /// <summary>Where the model's JSON string token (quotes included) starts and how long it is.</summary>
    public int ModelTokenStart { get; set; } = -1;

    public int ModelTokenLength { get; set; }

    public int ObjectStart { get; set; }

    public bool Stream { get; set; }

    /// <summary><c>max_output_tokens</c> (Responses), <c>max_completion_tokens</c> or <c>max_tokens</c> (Chat Completions).</summary>
    public long? MaxOutputTokens { get; set; }

    public bool HasStreamOptions { get; set; }

    public bool IncludeUsage { get; set; }

    public string? PromptCacheKey { get; set; }

    public string? PreviousResponseId { get; set; }

    /// <summary><c>"store": false</c>: the upstream keeps no copy, so no later request can name this response.</summary>
    public bool StoreDisabled { get; set; }
}

/// <summary>
/// Reads a request body once with <see cref="Utf8JsonReader"/>, picking out the fields above and skipping
/// the rest (skipping still checks that the JSON is well formed), and rewrites the body only when a
/// channel needs it: a model alias, a usage request on a Chat Completions stream, dropped reasoning items.
/// </summary>
internal static class RequestInspector
{
    /// <summary>Re-encodes strings as the client wrote them where JSON allows it (no <c>\u0022</c> for quotes inside strings).</summary>
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };

    public static bool TryInspect(ReadOnlySpan<byte> body, out RequestFacts facts, out ApiError? error)
    {
        facts = new RequestFacts();
        error = null;
        var reader = new Utf8JsonReader(body, ReaderOptions);
        try
        {
            if (!reader.Read())
            {
                error = GatewayErrors.InvalidJson("the body is empty");
                return false;
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                error = GatewayErrors.InvalidJson("the body is not a JSON object");
                return false;
            }

            facts.ObjectStart = (int)reader.TokenStartIndex;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("model"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        error = GatewayErrors.InvalidParameter("model", "\"model\" must be a string, e.g. \"gpt-5.5\".");
                        return false;
                    }

                    facts.Model = reader.GetString();
                    facts.ModelTokenStart = (int)reader.TokenStartIndex;
                    facts.ModelTokenLength = reader.ValueSpan.Length + 2;
                }
                else if (reader.ValueTextEquals("stream"u8))
                {
                    reader.Read();
                    facts.Stream = reader.TokenType switch
                    {
                        JsonTokenType.True => true,
                        JsonTokenType.False or JsonTokenType.Null => false,
                        _ => throw new InvalidParameterException("stream", "\"stream\" must be true or false."),
                    };
                }
                else if (reader.ValueTextEquals("max_output_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8) || reader.ValueTextEquals("max_tokens"u8))
                {
                    var name = reader.GetString()!;
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.Number)
                    {
                        if (!reader.TryGetInt64(out var max) || max < 1)
                        {
                            throw new InvalidParameterException(name, $"\"{name}\" must be a positive whole number.");
                        }

                        facts.MaxOutputTokens = facts.MaxOutputTokens is { } earlier ? Math.Min(earlier, max) : max;
                    }
                    else if (reader.TokenType != JsonTokenType.Null)
                    {
                        throw new InvalidParameterException(name, $"\"{name}\" must be a positive whole number.");
                    }
                }
                else if (reader.ValueTextEquals("stream_options"u8))
                {
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.StartObject)
                    {
                        facts.HasStreamOptions = true;
                        var depth = reader.CurrentDepth;
                        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
                        {
                            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1 && reader.ValueTextEquals("include_usage"u8))
                            {
                                reader.Read();
                                facts.IncludeUsage = reader.TokenType == JsonTokenType.True;
                            }
                            else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                            {
                                reader.Skip();
                            }
                        }
                    }
                    else
                    {
                        reader.Skip();
                    }
                }
                else if (reader.ValueTextEquals("prompt_cache_key"u8))
                {
                    reader.Read();
                    facts.PromptCacheKey = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("store"u8))
                {
                    reader.Read();
                    facts.StoreDisabled = reader.TokenType == JsonTokenType.False;
                    reader.Skip();
                }
                else if (reader.ValueTextEquals("previous_response_id"u8))
                {
                    reader.Read();
                    facts.PreviousResponseId = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject)
            {
                error = GatewayErrors.InvalidJson("the body is not a complete JSON object");
                return false;
            }

            if (reader.Read())
            {
                error = GatewayErrors.InvalidJson($"unexpected content after the JSON object at byte {reader.TokenStartIndex}");
                return false;
            }
        }
        catch (JsonException ex)
        {
            error = GatewayErrors.InvalidJson(Describe(ex));
            return false;
        }
        catch (InvalidParameterException ex)
        {
            error = GatewayErrors.InvalidParameter(ex.Param, ex.Message);
            return false;
        }

        if (string.IsNullOrWhiteSpace(facts.Model))
        {
            error = GatewayErrors.MissingModel();
            return false;
        }

        return true;
    }

    /// <summary>
    /// The body to send upstream, or null when the original bytes can go as they are. Model and usage
    /// changes are spliced into the original bytes; only dropping reasoning items re-serialises.
    /// </summary>
    public static byte[]? Rewrite(ReadOnlySpan<byte> body, RequestFacts facts, string upstreamModel, bool requestUsage, bool dropReasoning)
    {
        var renameModel = !string.Equals(upstreamModel, facts.Model, StringComparison.Ordinal);
        var addUsage = requestUsage && !facts.IncludeUsage;
        if (!renameModel && !addUsage && !dropReasoning)
        {
            return null;
        }

        if (dropReasoning || (addUsage && facts.HasStreamOptions))
        {
            var node = JsonNode.Parse(body)!.AsObject();
            if (renameModel)
            {
                node["model"] = upstreamModel;
            }

            if (addUsage)
            {
                if (node["stream_options"] is JsonObject options)
                {
                    options["include_usage"] = true;
                }
                else
                {
                    node["stream_options"] = new JsonObject { ["include_usage"] = true };
                }
            }

            if (dropReasoning && node["input"] is JsonArray input)
            {
                for (var i = input.Count - 1; i >= 0; i--)
                {
                    if (input[i] is JsonObject item && (string?)item["type"] == "reasoning")
                    {
                        input.RemoveAt(i);
                    }
                }
            }

            return JsonSerializer.SerializeToUtf8Bytes(node, Relaxed);
        }

        var output = new ArrayBufferWriter<byte>(body.Length + 64);
        var position = 0;
        if (addUsage)
        {
            // Right after the opening brace: {"stream_options":{"include_usage":true}, ...
            output.Write(body[..(facts.ObjectStart + 1)]);
            output.Write("\"stream_options\":{\"include_usage\":true},"u8);
            position = facts.ObjectStart + 1;
        }

        if (renameModel)
        {
            output.Write(body[position..facts.ModelTokenStart]);
            output.Write(Quote(JsonEncodedText.Encode(upstreamModel).EncodedUtf8Bytes));
            position = facts.ModelTokenStart + facts.ModelTokenLength;
        }

        output.Write(body[position..]);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Whether a Responses request's input carries reasoning items (encrypted by the upstream account that made them).</summary>
    public static bool HasReasoningItems(ReadOnlySpan<byte> body) => body.IndexOf("\"reasoning\""u8) >= 0 && body.IndexOf("\"encrypted_content\""u8) >= 0;

    private static byte[] Quote(ReadOnlySpan<byte> encoded)
    {
        var quoted = new byte[encoded.Length + 2];
        quoted[0] = (byte)'"';
        encoded.CopyTo(quoted.AsSpan(1));
        quoted[^1] = (byte)'"';
        return quoted;
    }

    private static string Describe(JsonException ex)
    {
        var message = new StringBuilder();
        message.Append("invalid JSON");
        if (ex.BytePositionInLine is { } position)
        {
            message.Append(" at line ").Append((ex.LineNumber ?? 0) + 1).Append(", byte ").Append(position + 1);
        }

        return message.ToString();
    }

    private sealed class InvalidParameterException(string param, string message) : Exception(message)
    {
        public string Param { get; } = param;
    }
}
