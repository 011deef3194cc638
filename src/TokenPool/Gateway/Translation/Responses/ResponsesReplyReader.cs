using System.Runtime.InteropServices;
using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Responses;

/// <summary>Reads a whole Responses API object (a non-streamed answer, protocols §4.3) into answer events.</summary>
internal static class ResponsesReplyReader
{
    public static void Read(ReadOnlySpan<byte> body, IReplySink sink)
    {
        using var document = JsonDocument.Parse(body.ToArray());
        var root = document.RootElement;
        var calledTools = false;
        var key = 0;
        if (root.TryGetProperty("output", out var output) && output.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in output.EnumerateArray())
            {
                switch (ResponsesRequestReader.Str(item, "type"))
                {
                    case "reasoning":
                        sink.ReasoningOrigin(ReasoningOrigin.Responses, JsonRaw.Escaped(item, "encrypted_content"));
                        if (item.TryGetProperty("summary", out var summary) && summary.ValueKind == JsonValueKind.Array)
                        {
                            var first = true;
                            foreach (var part in summary.EnumerateArray())
                            {
                                if (!first)
                                {
                                    sink.Reasoning("\\n\\n"u8);
                                }

                                sink.Reasoning(JsonRaw.Escaped(part, "text"));
                                first = false;
                            }
                        }

                        sink.ReasoningEnd();
                        break;
                    case "message":
                        if (item.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
                        {
                            foreach (var part in content.EnumerateArray())
                            {
                                sink.Text(JsonRaw.Escaped(part, ResponsesRequestReader.Str(part, "type") == "refusal" ? "refusal" : "text"));
                            }
                        }

                        break;
                    case "function_call":
                        calledTools = true;
                        sink.ToolCall(key, ResponsesRequestReader.Str(item, "call_id") ?? $"call_{key}", ResponsesRequestReader.Str(item, "name") ?? "");
                        sink.ToolArguments(key, JsonRaw.Escaped(item, "arguments"));
                        sink.ToolCallEnd(key);
                        key++;
                        break;
                }
            }
        }

        if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
        {
            var reader = new Utf8JsonReader(JsonMarshal.GetRawUtf8Value(usage));
            reader.Read();
            sink.Usage(ResponsesStreamReader.ReadUsage(ref reader));
        }

        var status = ResponsesRequestReader.Str(root, "status");
        if (status == "failed")
        {
            var error = root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object
                ? UpstreamFailure.From(ResponsesRequestReader.Str(e, "type"), ResponsesRequestReader.Str(e, "code"), ResponsesRequestReader.Str(e, "message"))
                : UpstreamFailure.From(null, null, null);
            sink.Failed(error);
            return;
        }

        var reason = root.TryGetProperty("incomplete_details", out var details) ? ResponsesRequestReader.Str(details, "reason") : null;
        sink.Finish(reason switch
        {
            "max_output_tokens" => FinishReason.Length,
            "content_filter" => FinishReason.ContentFilter,
            _ => status == "incomplete" ? FinishReason.Length : calledTools ? FinishReason.ToolCalls : FinishReason.Stop,
        }, null);
        sink.Completed();
    }
}
