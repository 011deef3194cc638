using System.Buffers;
using System.Text;
using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Responses;

/// <summary>
/// Writes a whole answer as a Responses API object (protocols §4.3), with the same items and rules as
/// <see cref="ResponsesStreamWriter"/>: reasoning sealed into <c>encrypted_content</c>, custom tools as
/// <c>custom_tool_call</c>, namespaced functions with their <c>namespace</c>, the status from the finish reason.
/// </summary>
internal static class ResponsesReplyWriter
{
    public static byte[] Write(ReplyCollector reply, BridgeOptions options, ReasoningSeal seal)
    {
        var context = options.Context ?? BridgeContext.Empty;
        var tail = options.ResponseId.StartsWith("resp_", StringComparison.Ordinal) ? options.ResponseId[5..] : options.ResponseId;
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var json = new Utf8JsonWriter(buffer, ApiError.WriterOptions))
        {
            var failed = reply.Failure is not null || reply.FinishReason == FinishReason.Aborted;
            var incomplete = reply.FinishReason switch
            {
                FinishReason.Length => "max_output_tokens",
                FinishReason.ContentFilter => "content_filter",
                _ => null,
            };
            json.WriteStartObject();
            json.WriteString("id"u8, options.ResponseId);
            json.WriteString("object"u8, "response"u8);
            json.WriteNumber("created_at"u8, options.CreatedAt);
            json.WriteString("status"u8, failed ? "failed" : incomplete is null ? "completed" : "incomplete");
            json.WriteString("model"u8, options.ClientModel);
            json.WriteStartArray("output"u8);
            var n = 0;
            foreach (var part in reply.Parts)
            {
                var id = "_" + tail + "_" + (n++).ToString(System.Globalization.CultureInfo.InvariantCulture);
                json.WriteStartObject();
                switch (part)
                {
                    case ReplyReasoning reasoning:
                        json.WriteString("type"u8, "reasoning"u8);
                        json.WriteString("id"u8, "rs" + id);
                        json.WriteStartArray("summary"u8);
                        if (reasoning.Text.Length > 0)
                        {
                            json.WriteStartObject();
                            json.WriteString("type"u8, "summary_text"u8);
                            json.WriteString("text"u8, reasoning.Text.ToString());
                            json.WriteEndObject();
                        }

                        json.WriteEndArray();
                        if (reasoning.Origin != ReasoningOrigin.None && (reasoning.Text.Length > 0 || reasoning.Blob.Length > 0))
                        {
                            json.WriteString("encrypted_content"u8, seal.Seal(reasoning.Origin, JsonText.Escape(reasoning.Text.ToString()), JsonText.Escape(reasoning.Blob.ToString())));
                        }
                        else
                        {
                            json.WriteNull("encrypted_content"u8);
                        }

                        break;
                    case StringBuilder text:
                        json.WriteString("type"u8, "message"u8);
                        json.WriteString("id"u8, "msg" + id);
                        json.WriteString("status"u8, "completed"u8);
                        json.WriteString("role"u8, "assistant"u8);
                        json.WriteStartArray("content"u8);
                        json.WriteStartObject();
                        json.WriteString("type"u8, "output_text"u8);
                        json.WriteString("text"u8, text.ToString());
                        json.WriteStartArray("annotations"u8);
                        json.WriteEndArray();
                        json.WriteEndObject();
                        json.WriteEndArray();
                        break;
                    case ReplyToolCall call:
                        var origin = context.Resolve(call.Name);
                        var arguments = call.Arguments.ToString();
                        switch (origin.Kind)
                        {
                            case ToolKind.Custom:
                                json.WriteString("type"u8, "custom_tool_call"u8);
                                json.WriteString("id"u8, "ctc" + id);
                                json.WriteString("call_id"u8, call.CallId);
                                json.WriteString("name"u8, origin.Name);
                                json.WriteString("input"u8, CustomInput(arguments));
                                break;
                            case ToolKind.ToolSearch:
                                json.WriteString("type"u8, "tool_search_call"u8);
                                json.WriteString("id"u8, "tsc" + id);
                                json.WriteString("call_id"u8, call.CallId);
                                json.WriteString("execution"u8, "client"u8);
                                json.WritePropertyName("arguments"u8);
                                WriteObjectOrEmpty(json, arguments);
                                break;
                            default:
                                json.WriteString("type"u8, "function_call"u8);
                                json.WriteString("id"u8, "fc" + id);
                                json.WriteString("call_id"u8, call.CallId);
                                json.WriteString("name"u8, origin.Name);
                                if (origin.Namespace is { } ns)
                                {
                                    json.WriteString("namespace"u8, ns);
                                }

                                json.WriteString("arguments"u8, arguments);
                                break;
                        }

                        json.WriteString("status"u8, "completed"u8);
                        break;
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            if (reply.UsageReported is { } usage)
            {
                ResponsesStreamWriter.WriteUsage(json, usage);
            }
            else
            {
                json.WriteNull("usage"u8);
            }

            if (failed)
            {
                var error = reply.Failure ?? new ApiError(502, "server_error", "server_error", "The upstream stopped generating this response before it was complete. Please try again.");
                json.WriteStartObject("error"u8);
                json.WriteString("code"u8, error.Code ?? "server_error");
                json.WriteString("message"u8, error.Message);
                json.WriteEndObject();
            }
            else
            {
                json.WriteNull("error"u8);
            }

            if (incomplete is null || failed)
            {
                json.WriteNull("incomplete_details"u8);
            }
            else
            {
                json.WriteStartObject("incomplete_details"u8);
                json.WriteString("reason"u8, incomplete);
                json.WriteEndObject();
            }

            json.WriteBoolean("store"u8, false);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The raw input of a custom tool from the arguments of the function that stood for it.</summary>
    internal static string CustomInput(string arguments)
    {
        try
        {
            using var document = JsonDocument.Parse(arguments);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.String)
            {
                return input.GetString()!;
            }
        }
        catch (JsonException)
        {
            // The model wrote the input itself.
        }

        return arguments;
    }

    internal static void WriteObjectOrEmpty(Utf8JsonWriter json, string arguments)
    {
        try
        {
            using var document = JsonDocument.Parse(arguments);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                document.RootElement.WriteTo(json);
                return;
            }
        }
        catch (JsonException)
        {
            // Not an object.
        }

        json.WriteStartObject();
        json.WriteEndObject();
    }
}
