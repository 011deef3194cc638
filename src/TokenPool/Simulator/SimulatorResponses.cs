using System.Buffers;
using System.Text.Json;

namespace TokenPool.Simulator;

/// <summary>
/// Writes a <see cref="SimulatedTurn"/> in OpenAI's wire formats: Responses events and objects, Chat
/// Completions chunks and objects, field for field as OpenAI sends them (see protocols.md §3 and §4).
/// </summary>
internal sealed class SimulatorResponses(SimulatedTurn turn, SimulatorFaults faults, string responseId, long createdAt)
{
    private int _sequence;

    private string MessageId => "msg_" + responseId[5..];

    private string ReasoningId => "rs_" + responseId[5..];

    private string CallItemId => "fc_" + responseId[5..];

    /// <summary>The Responses stream as a list of (event name, data JSON) pairs, ending with the terminal event.</summary>
    public List<(string Name, byte[] Data)> ResponsesEvents()
    {
        var events = new List<(string, byte[])>();
        void Add(string type, Action<Utf8JsonWriter> body) => events.Add((type, Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteNumber("sequence_number", _sequence++);
            body(w);
            w.WriteEndObject();
        })));

        Add("response.created", w => WriteResponse(w, "in_progress", includeOutput: false));
        Add("response.in_progress", w => WriteResponse(w, "in_progress", includeOutput: false));
        var index = 0;
        if (turn.ReasoningSummary is { } summary)
        {
            var reasoningIndex = index++;
            Add("response.output_item.added", w =>
            {
                w.WriteNumber("output_index", reasoningIndex);
                w.WritePropertyName("item");
                WriteReasoning(w, done: false);
            });
            Add("response.reasoning_summary_part.added", w =>
            {
                ItemRef(w, ReasoningId, reasoningIndex);
                w.WriteNumber("summary_index", 0);
                w.WritePropertyName("part");
                SummaryPart(w, "");
            });
            Add("response.reasoning_summary_text.delta", w =>
            {
                ItemRef(w, ReasoningId, reasoningIndex);
                w.WriteNumber("summary_index", 0);
                w.WriteString("delta", summary);
            });
            Add("response.reasoning_summary_text.done", w =>
            {
                ItemRef(w, ReasoningId, reasoningIndex);
                w.WriteNumber("summary_index", 0);
                w.WriteString("text", summary);
            });
            Add("response.reasoning_summary_part.done", w =>
            {
                ItemRef(w, ReasoningId, reasoningIndex);
                w.WriteNumber("summary_index", 0);
                w.WritePropertyName("part");
                SummaryPart(w, summary);
            });
            Add("response.output_item.done", w =>
            {
                w.WriteNumber("output_index", reasoningIndex);
                w.WritePropertyName("item");
                WriteReasoning(w, done: true);
            });
        }

        var itemIndex = index;
        if (turn.ToolCall is { } call)
        {
            Add("response.output_item.added", w =>
            {
                w.WriteNumber("output_index", itemIndex);
                w.WritePropertyName("item");
                WriteCall(w, call, done: false);
            });
            var deltaType = call.IsCustom ? "response.custom_tool_call_input.delta" : "response.function_call_arguments.delta";
            foreach (var piece in Split(call.Arguments, 2))
            {
                Add(deltaType, w =>
                {
                    ItemRef(w, CallItemId, itemIndex);
                    w.WriteString("delta", piece);
                });
            }

            Add(call.IsCustom ? "response.custom_tool_call_input.done" : "response.function_call_arguments.done", w =>
            {
                ItemRef(w, CallItemId, itemIndex);
                if (call.IsCustom)
                {
                    w.WriteString("input", call.Arguments);
                }
                else
                {
                    w.WriteString("name", call.Name);
                    w.WriteString("arguments", call.Arguments);
                }
            });
            Add("response.output_item.done", w =>
            {
                w.WriteNumber("output_index", itemIndex);
                w.WritePropertyName("item");
                WriteCall(w, call, done: true);
            });
        }
        else
        {
            var text = turn.Text ?? "";
            Add("response.output_item.added", w =>
            {
                w.WriteNumber("output_index", itemIndex);
                w.WritePropertyName("item");
                WriteMessage(w, done: false);
            });
            Add("response.content_part.added", w =>
            {
                ItemRef(w, MessageId, itemIndex);
                w.WriteNumber("content_index", 0);
                w.WritePropertyName("part");
                TextPart(w, "");
            });
            foreach (var piece in Split(text, faults.Deltas ?? 4))
            {
                Add("response.output_text.delta", w =>
                {
                    ItemRef(w, MessageId, itemIndex);
                    w.WriteNumber("content_index", 0);
                    w.WriteString("delta", piece);
                    w.WriteStartArray("logprobs");
                    w.WriteEndArray();
                });
            }

            Add("response.output_text.done", w =>
            {
                ItemRef(w, MessageId, itemIndex);
                w.WriteNumber("content_index", 0);
                w.WriteString("text", text);
                w.WriteStartArray("logprobs");
                w.WriteEndArray();
            });
            Add("response.content_part.done", w =>
            {
                ItemRef(w, MessageId, itemIndex);
                w.WriteNumber("content_index", 0);
                w.WritePropertyName("part");
                TextPart(w, text);
            });
            Add("response.output_item.done", w =>
            {
                w.WriteNumber("output_index", itemIndex);
                w.WritePropertyName("item");
                WriteMessage(w, done: true);
            });
        }

        var terminal = faults.Incomplete ? "response.incomplete" : "response.completed";
        Add(terminal, w => WriteResponse(w, faults.Incomplete ? "incomplete" : "completed", includeOutput: true));
        return events;
    }

    /// <summary>A <c>response.failed</c> event with this error, numbered after the events already made.</summary>
    public byte[] ResponsesFailedEvent(string code, string message) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("type", "response.failed");
        w.WriteNumber("sequence_number", _sequence++);
        w.WritePropertyName("response");
        w.WriteStartObject();
        w.WriteString("id", responseId);
        w.WriteString("object", "response");
        w.WriteNumber("created_at", createdAt);
        w.WriteString("status", "failed");
        w.WriteString("model", turn.Model);
        w.WriteStartArray("output");
        w.WriteEndArray();
        w.WriteNull("usage");
        w.WriteStartObject("error");
        w.WriteString("code", code);
        w.WriteString("message", message);
        w.WriteEndObject();
        w.WriteNull("incomplete_details");
        w.WriteEndObject();
        w.WriteEndObject();
    });

    /// <summary>The whole Response object for a non-streamed request.</summary>
    public byte[] ResponseObject() => Json(w => WriteResponseObject(w, faults.Incomplete ? "incomplete" : "completed", includeOutput: true));

    /// <summary>Chat Completions chunks, each a JSON object (the caller adds <c>data: [DONE]</c>).</summary>
    public List<byte[]> ChatChunks(bool includeUsage)
    {
        var chunks = new List<byte[]>();
        var id = "chatcmpl-" + responseId[5..];
        void Chunk(Action<Utf8JsonWriter>? delta, string? finish, bool usageOnly = false) => chunks.Add(Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", "chat.completion.chunk");
            w.WriteNumber("created", createdAt);
            w.WriteString("model", turn.Model);
            w.WriteNull("system_fingerprint");
            w.WriteStartArray("choices");
            if (!usageOnly)
            {
                w.WriteStartObject();
                w.WriteNumber("index", 0);
                w.WriteStartObject("delta");
                delta?.Invoke(w);
                w.WriteEndObject();
                w.WriteNull("logprobs");
                if (finish is null)
                {
                    w.WriteNull("finish_reason");
                }
                else
                {
                    w.WriteString("finish_reason", finish);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (usageOnly)
            {
                WriteChatUsage(w);
            }

            w.WriteEndObject();
        }));

        Chunk(w =>
        {
            w.WriteString("role", "assistant");
            w.WriteString("content", "");
        }, null);
        if (turn.ToolCall is { } call)
        {
            Chunk(w =>
            {
                w.WriteStartArray("tool_calls");
                w.WriteStartObject();
                w.WriteNumber("index", 0);
                w.WriteString("id", call.CallId);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", "");
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteEndArray();
            }, null);
            foreach (var piece in Split(call.Arguments, 2))
            {
                Chunk(w =>
                {
                    w.WriteStartArray("tool_calls");
                    w.WriteStartObject();
                    w.WriteNumber("index", 0);
                    w.WriteStartObject("function");
                    w.WriteString("arguments", piece);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndArray();
                }, null);
            }

            Chunk(null, "tool_calls");
        }
        else
        {
            foreach (var piece in Split(turn.Text ?? "", faults.Deltas ?? 4))
            {
                Chunk(w => w.WriteString("content", piece), null);
            }

            Chunk(null, faults.Incomplete ? "length" : "stop");
        }

        if (includeUsage && !faults.NoUsage)
        {
            Chunk(null, null, usageOnly: true);
        }

        return chunks;
    }

    public byte[] ChatObject() => Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("id", "chatcmpl-" + responseId[5..]);
        w.WriteString("object", "chat.completion");
        w.WriteNumber("created", createdAt);
        w.WriteString("model", turn.Model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        if (turn.ToolCall is { } call)
        {
            w.WriteNull("content");
            w.WriteStartArray("tool_calls");
            w.WriteStartObject();
            w.WriteString("id", call.CallId);
            w.WriteString("type", "function");
            w.WriteStartObject("function");
            w.WriteString("name", call.Name);
            w.WriteString("arguments", call.Arguments);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndArray();
        }
        else
        {
            w.WriteString("content", turn.Text);
        }

        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", turn.ToolCall is not null ? "tool_calls" : faults.Incomplete ? "length" : "stop");
        w.WriteEndObject();
        w.WriteEndArray();
        if (!faults.NoUsage)
        {
            WriteChatUsage(w);
        }

        w.WriteEndObject();
    });

    public static byte[] Error(int status, string? code, string? message)
    {
        var type = status switch
        {
            401 => "invalid_request_error",
            429 when code == "insufficient_quota" => "insufficient_quota",
            429 => "requests",
            >= 500 => "server_error",
            _ => "invalid_request_error",
        };
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartObject("error");
            w.WriteString("message", message ?? DefaultMessage(status, code));
            w.WriteString("type", type);
            w.WriteNull("param");
            if (code is null)
            {
                w.WriteNull("code");
            }
            else
            {
                w.WriteString("code", code);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        });
    }

    private static string DefaultMessage(int status, string? code) => (status, code) switch
    {
        (401, _) => "Incorrect API key provided: sk-sim-****. You can find your API key at https://platform.openai.com/account/api-keys.",
        (429, "insufficient_quota") => "You exceeded your current quota, please check your plan and billing details.",
        (429, _) => "Rate limit reached for requests. Please try again in 1.5s.",
        (400, "context_length_exceeded") => "This model's maximum context length is 400000 tokens. However, your messages resulted in 401000 tokens.",
        (400, "invalid_encrypted_content") => "The encrypted content for item rs_sim could not be verified.",
        (>= 500, _) => "The server had an error while processing your request. Sorry about that!",
        _ => $"Simulated error {status}.",
    };

    private void WriteResponse(Utf8JsonWriter w, string status, bool includeOutput)
    {
        w.WritePropertyName("response");
        WriteResponseObject(w, status, includeOutput);
    }

    private void WriteResponseObject(Utf8JsonWriter w, string status, bool includeOutput)
    {
        w.WriteStartObject();
        w.WriteString("id", responseId);
        w.WriteString("object", "response");
        w.WriteNumber("created_at", createdAt);
        w.WriteString("status", status);
        w.WriteString("model", turn.Model);
        w.WriteStartArray("output");
        if (includeOutput)
        {
            if (turn.ReasoningSummary is not null)
            {
                WriteReasoning(w, done: true);
            }

            if (turn.ToolCall is { } call)
            {
                WriteCall(w, call, done: true);
            }
            else
            {
                WriteMessage(w, done: true);
            }
        }

        w.WriteEndArray();
        if (includeOutput && !faults.NoUsage)
        {
            w.WriteStartObject("usage");
            var bad = faults.BadUsage ? -1 : 1;
            w.WriteNumber("input_tokens", bad * turn.InputTokens);
            w.WriteStartObject("input_tokens_details");
            w.WriteNumber("cached_tokens", turn.CachedTokens);
            w.WriteEndObject();
            w.WriteNumber("output_tokens", bad * turn.OutputTokens);
            w.WriteStartObject("output_tokens_details");
            w.WriteNumber("reasoning_tokens", turn.ReasoningTokens);
            w.WriteEndObject();
            w.WriteNumber("total_tokens", bad * (turn.InputTokens + turn.OutputTokens));
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("usage");
        }

        w.WriteNull("error");
        if (status == "incomplete")
        {
            w.WriteStartObject("incomplete_details");
            w.WriteString("reason", "max_output_tokens");
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("incomplete_details");
        }

        w.WriteEndObject();
    }

    private void WriteChatUsage(Utf8JsonWriter w)
    {
        var bad = faults.BadUsage ? -1 : 1;
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", bad * turn.InputTokens);
        w.WriteNumber("completion_tokens", bad * turn.OutputTokens);
        w.WriteNumber("total_tokens", bad * (turn.InputTokens + turn.OutputTokens));
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", turn.CachedTokens);
        w.WriteEndObject();
        w.WriteStartObject("completion_tokens_details");
        w.WriteNumber("reasoning_tokens", turn.ReasoningTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private void WriteReasoning(Utf8JsonWriter w, bool done)
    {
        w.WriteStartObject();
        w.WriteString("type", "reasoning");
        w.WriteString("id", ReasoningId);
        w.WriteStartArray("summary");
        if (done)
        {
            w.WriteStartObject();
            w.WriteString("type", "summary_text");
            w.WriteString("text", turn.ReasoningSummary);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        if (done)
        {
            w.WriteString("encrypted_content", turn.EncryptedReasoning);
        }
        else
        {
            w.WriteNull("encrypted_content");
        }

        w.WriteEndObject();
    }

    private void WriteMessage(Utf8JsonWriter w, bool done)
    {
        w.WriteStartObject();
        w.WriteString("type", "message");
        w.WriteString("id", MessageId);
        w.WriteString("status", done ? "completed" : "in_progress");
        w.WriteString("role", "assistant");
        w.WriteStartArray("content");
        if (done)
        {
            TextPart(w, turn.Text ?? "");
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    private void WriteCall(Utf8JsonWriter w, SimulatedToolCall call, bool done)
    {
        w.WriteStartObject();
        w.WriteString("type", call.IsCustom ? "custom_tool_call" : "function_call");
        w.WriteString("id", CallItemId);
        w.WriteString("call_id", call.CallId);
        w.WriteString("name", call.Name);
        w.WriteString(call.IsCustom ? "input" : "arguments", done ? call.Arguments : "");
        w.WriteString("status", done ? "completed" : "in_progress");
        w.WriteEndObject();
    }

    private static void ItemRef(Utf8JsonWriter w, string itemId, int outputIndex)
    {
        w.WriteString("item_id", itemId);
        w.WriteNumber("output_index", outputIndex);
    }

    private static void TextPart(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "output_text");
        w.WriteString("text", text);
        w.WriteStartArray("annotations");
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void SummaryPart(Utf8JsonWriter w, string text)
    {
        w.WriteStartObject();
        w.WriteString("type", "summary_text");
        w.WriteString("text", text);
        w.WriteEndObject();
    }

    /// <summary>Splits text into about <paramref name="pieces"/> parts without breaking surrogate pairs.</summary>
    internal static IEnumerable<string> Split(string text, int pieces)
    {
        if (text.Length == 0)
        {
            yield break;
        }

        pieces = Math.Clamp(pieces, 1, text.Length);
        var size = (int)Math.Ceiling(text.Length / (double)pieces);
        for (var start = 0; start < text.Length;)
        {
            var end = Math.Min(text.Length, start + size);
            if (end < text.Length && char.IsHighSurrogate(text[end - 1]))
            {
                end++;
            }

            yield return text[start..end];
            start = end;
        }
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }
}
