using System.Buffers;
using System.Text;
using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Chat;

/// <summary>
/// Writes a whole answer as a <c>chat.completion</c> object (protocols §3): one choice whose message has the text,
/// the reasoning as <c>reasoning_content</c>, and the <c>tool_calls</c>; the finish reason and usage by the same tables as
/// <see cref="ChatStreamWriter"/>. An upstream failure becomes the error envelope.
/// </summary>
internal static class ChatReplyWriter
{
    public static byte[] Write(ReplyCollector reply, BridgeOptions options)
    {
        if (reply.Failure is { } failure)
        {
            return failure.ToJsonBytes();
        }

        var context = options.Context ?? BridgeContext.Empty;
        var buffer = new ArrayBufferWriter<byte>(2048);
        using (var json = new Utf8JsonWriter(buffer, ApiError.WriterOptions))
        {
            var text = new StringBuilder();
            var reasoning = new StringBuilder();
            var calls = new List<ReplyToolCall>();
            foreach (var part in reply.Parts)
            {
                switch (part)
                {
                    case StringBuilder t:
                        text.Append(t);
                        break;
                    case ReplyReasoning r:
                        reasoning.Append(r.Text);
                        break;
                    case ReplyToolCall call:
                        calls.Add(call);
                        break;
                }
            }

            json.WriteStartObject();
            json.WriteString("id"u8, options.ResponseId);
            json.WriteString("object"u8, "chat.completion"u8);
            json.WriteNumber("created"u8, options.CreatedAt);
            json.WriteString("model"u8, options.ClientModel);
            json.WriteStartArray("choices"u8);
            json.WriteStartObject();
            json.WriteNumber("index"u8, 0);
            json.WriteStartObject("message"u8);
            json.WriteString("role"u8, "assistant"u8);
            if (text.Length > 0 || calls.Count == 0)
            {
                json.WriteString("content"u8, text.ToString());
            }
            else
            {
                json.WriteNull("content"u8);
            }

            if (reasoning.Length > 0)
            {
                json.WriteString("reasoning_content"u8, reasoning.ToString());
            }

            if (calls.Count > 0)
            {
                json.WriteStartArray("tool_calls"u8);
                foreach (var call in calls)
                {
                    json.WriteStartObject();
                    json.WriteString("id"u8, call.CallId);
                    json.WriteString("type"u8, "function"u8);
                    json.WriteStartObject("function"u8);
                    json.WriteString("name"u8, context.Resolve(call.Name).Name);
                    json.WriteString("arguments"u8, call.Arguments.Length == 0 ? "{}" : call.Arguments.ToString());
                    json.WriteEndObject();
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
            json.WriteNull("logprobs"u8);
            json.WriteString("finish_reason"u8, ChatStreamWriter.FinishText(reply.FinishReason, calls.Count > 0));
            json.WriteEndObject();
            json.WriteEndArray();
            if (reply.UsageReported is { } usage)
            {
                ChatStreamWriter.WriteUsage(json, usage);
            }

            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
