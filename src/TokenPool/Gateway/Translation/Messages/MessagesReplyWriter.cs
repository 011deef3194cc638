using System.Buffers;
using System.Text;
using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Messages;

/// <summary>
/// Writes a whole answer as an Anthropic message: <c>thinking</c> blocks signed with TokenPool's seal, <c>text</c>
/// blocks, <c>tool_use</c> blocks with their <c>input</c> object; the stop reason and usage by the same tables as
/// <see cref="MessagesStreamWriter"/>. An upstream failure becomes Anthropic's error object.
/// </summary>
internal static class MessagesReplyWriter
{
    public static byte[] Write(ReplyCollector reply, BridgeOptions options, ReasoningSeal seal)
    {
        var buffer = new ArrayBufferWriter<byte>(2048);
        using (var json = new Utf8JsonWriter(buffer, ApiError.WriterOptions))
        {
            if (reply.Failure is { } failure)
            {
                json.WriteStartObject();
                json.WriteString("type"u8, "error"u8);
                json.WriteStartObject("error"u8);
                json.WriteString("type"u8, MessagesStreamWriter.ErrorType(failure));
                json.WriteString("message"u8, failure.Message);
                json.WriteEndObject();
                json.WriteEndObject();
            }
            else
            {
                var context = options.Context ?? BridgeContext.Empty;
                json.WriteStartObject();
                json.WriteString("id"u8, options.ResponseId);
                json.WriteString("type"u8, "message"u8);
                json.WriteString("role"u8, "assistant"u8);
                json.WriteString("model"u8, options.ClientModel);
                json.WriteStartArray("content"u8);
                foreach (var part in reply.Parts)
                {
                    switch (part)
                    {
                        case ReplyReasoning reasoning:
                            json.WriteStartObject();
                            json.WriteString("type"u8, "thinking"u8);
                            json.WriteString("thinking"u8, reasoning.Text.ToString());
                            json.WriteString("signature"u8, reasoning.Origin == ReasoningOrigin.None
                                ? ""
                                : seal.Seal(reasoning.Origin, JsonText.Escape(reasoning.Text.ToString()), JsonText.Escape(reasoning.Blob.ToString())));
                            json.WriteEndObject();
                            break;
                        case StringBuilder text when text.Length > 0:
                            json.WriteStartObject();
                            json.WriteString("type"u8, "text"u8);
                            json.WriteString("text"u8, text.ToString());
                            json.WriteEndObject();
                            break;
                        case ReplyToolCall call:
                            json.WriteStartObject();
                            json.WriteString("type"u8, "tool_use"u8);
                            json.WriteString("id"u8, MessagesRequestWriter.ToolId(call.CallId));
                            json.WriteString("name"u8, context.Resolve(call.Name).Name);
                            json.WritePropertyName("input"u8);
                            WriteInput(json, call.Arguments.ToString());
                            json.WriteEndObject();
                            break;
                    }
                }

                json.WriteEndArray();
                json.WriteString("stop_reason"u8, MessagesStreamWriter.StopReason(reply.FinishReason, reply.HasToolCalls));
                if (reply.FinishReason == FinishReason.StopSequence && reply.StopSequence is { } stop)
                {
                    json.WriteString("stop_sequence"u8, stop);
                }
                else
                {
                    json.WriteNull("stop_sequence"u8);
                }

                MessagesStreamWriter.WriteUsage(json, reply.UsageReported ?? default);
                json.WriteEndObject();
            }
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteInput(Utf8JsonWriter json, string arguments)
    {
        try
        {
            using var document = JsonDocument.Parse(arguments.Length == 0 ? "{}" : arguments);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                document.RootElement.WriteTo(json);
                return;
            }
        }
        catch (JsonException)
        {
            // Not an object: handed over as one string field.
        }

        json.WriteStartObject();
        json.WriteString("arguments"u8, arguments);
        json.WriteEndObject();
    }
}
