using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;
using static TokenPool.Gateway.Translation.Responses.ResponsesRequestReader;

namespace TokenPool.Gateway.Translation.Messages;

/// <summary>Reads a whole Anthropic message (a non-streamed answer) into answer events, by the same rules as <see cref="MessagesStreamReader"/>.</summary>
internal static class MessagesReplyReader
{
    public static void Read(ReadOnlySpan<byte> body, IReplySink sink)
    {
        using var document = JsonDocument.Parse(body.ToArray());
        var root = document.RootElement;
        if (Str(root, "type") == "error")
        {
            var error = root.TryGetProperty("error", out var e) ? e : root;
            sink.Failed(UpstreamFailure.From(Str(error, "type"), null, Str(error, "message")));
            return;
        }

        var key = 0;
        if (root.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
        {
            foreach (var block in content.EnumerateArray())
            {
                switch (Str(block, "type"))
                {
                    case "thinking":
                        sink.ReasoningOrigin(ReasoningOrigin.MessagesThinking, JsonRaw.Escaped(block, "signature"));
                        sink.Reasoning(JsonRaw.Escaped(block, "thinking"));
                        sink.ReasoningEnd();
                        break;
                    case "redacted_thinking":
                        sink.ReasoningOrigin(ReasoningOrigin.MessagesRedacted, JsonRaw.Escaped(block, "data"));
                        sink.ReasoningEnd();
                        break;
                    case "text":
                        sink.Text(JsonRaw.Escaped(block, "text"));
                        break;
                    case "tool_use":
                        sink.ToolCall(key, Str(block, "id") ?? $"toolu_{key}", Str(block, "name") ?? "");
                        sink.ToolArguments(key, block.TryGetProperty("input", out var input) ? JsonRaw.AsEscapedString(input) : "{}"u8);
                        sink.ToolCallEnd(key);
                        key++;
                        break;
                }
            }
        }

        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            long Get(string name) => usage.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var n) ? n : 0;
            var read = Get("cache_read_input_tokens");
            var write = Get("cache_creation_input_tokens");
            sink.Usage(new ReplyUsage(Get("input_tokens") + read + write, read, write, Get("output_tokens"), 0));
        }

        var stopSequence = Str(root, "stop_sequence");
        sink.Finish(Str(root, "stop_reason") switch
        {
            "max_tokens" or "model_context_window_exceeded" => FinishReason.Length,
            "tool_use" => FinishReason.ToolCalls,
            "stop_sequence" => FinishReason.StopSequence,
            "refusal" => FinishReason.ContentFilter,
            _ => FinishReason.Stop,
        }, stopSequence);
        sink.Completed();
    }
}
