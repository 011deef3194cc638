using System.Text.Json;

namespace TokenPool.Simulator;

/// <summary>
/// Writes a <see cref="SimulatedTurn"/> as OpenAI's Responses API does, field for field (protocols.md §4):
/// the event stream (<c>response.created</c> … <c>response.completed</c>), the Response object, and
/// <c>response.failed</c>. Output items in order: reasoning, the message (answer or preamble), the tool call.
/// </summary>
internal sealed class ResponsesWire(SimulatedTurn turn, SimulatorFaults faults, string responseId, long createdAt)
{
    private int _sequence;

    private string MessageId => "msg_" + responseId[5..];

    private string ReasoningId => "rs_" + responseId[5..];

    private string CallItemId(int index) =>
        (turn.ToolCalls[index].IsCustom ? "ctc_" : "fc_") + responseId[5..] + (index == 0 ? "" : "_" + index.ToString(System.Globalization.CultureInfo.InvariantCulture));

    private string Status => turn.Truncated || faults.Finish is not null ? "incomplete" : "completed";

    private string IncompleteReason => faults.Finish ?? "max_output_tokens";

    /// <summary>The whole stream, ending with the terminal event.</summary>
    public List<StreamEvent> Events()
    {
        var events = new List<StreamEvent>();
        void Add(string type, StreamStage stage, Action<Utf8JsonWriter> body) => events.Add(new StreamEvent(type, Wire.Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteNumber("sequence_number", _sequence++);
            body(w);
            w.WriteEndObject();
        }), stage));

        Add("response.created", StreamStage.Created, w => WriteResponse(w, "in_progress", includeOutput: false));
        Add("response.in_progress", StreamStage.Created, w => WriteResponse(w, "in_progress", includeOutput: false));
        var index = 0;
        if (turn.ReasoningSummary is { } summary)
        {
            var reasoningIndex = index++;
            Add("response.output_item.added", StreamStage.Reasoning, w =>
            {
                w.WriteNumber("output_index", reasoningIndex);
                w.WritePropertyName("item");
                WriteReasoning(w, done: false);
            });
            Add("response.reasoning_summary_part.added", StreamStage.Reasoning, w =>
            {
                ItemRef(w, ReasoningId, reasoningIndex);
                w.WriteNumber("summary_index", 0);
                w.WritePropertyName("part");
                SummaryPart(w, "");
            });
            Add("response.reasoning_summary_text.delta", StreamStage.Reasoning, w =>
            {
                ItemRef(w, ReasoningId, reasoningIndex);
                w.WriteNumber("summary_index", 0);
                w.WriteString("delta", summary);
            });
            Add("response.reasoning_summary_text.done", StreamStage.Reasoning, w =>
            {
                ItemRef(w, ReasoningId, reasoningIndex);
                w.WriteNumber("summary_index", 0);
                w.WriteString("text", summary);
            });
            Add("response.reasoning_summary_part.done", StreamStage.Reasoning, w =>
            {
                ItemRef(w, ReasoningId, reasoningIndex);
                w.WriteNumber("summary_index", 0);
                w.WritePropertyName("part");
                SummaryPart(w, summary);
            });
            Add("response.output_item.done", StreamStage.Reasoning, w =>
            {
                w.WriteNumber("output_index", reasoningIndex);
                w.WritePropertyName("item");
                WriteReasoning(w, done: true);
            });
        }

        if (turn.Text is { } text)
        {
            var messageIndex = index++;
            Add("response.output_item.added", StreamStage.Text, w =>
            {
                w.WriteNumber("output_index", messageIndex);
                w.WritePropertyName("item");
                WriteMessage(w, done: false);
            });
            Add("response.content_part.added", StreamStage.Text, w =>
            {
                ItemRef(w, MessageId, messageIndex);
                w.WriteNumber("content_index", 0);
                w.WritePropertyName("part");
                TextPart(w, "");
            });
            foreach (var piece in Wire.Split(text, faults.Deltas ?? Wire.DefaultDeltas(text)))
            {
                Add("response.output_text.delta", StreamStage.Text, w =>
                {
                    ItemRef(w, MessageId, messageIndex);
                    w.WriteNumber("content_index", 0);
                    w.WriteString("delta", piece);
                    w.WriteStartArray("logprobs");
                    w.WriteEndArray();
                });
            }

            Add("response.output_text.done", StreamStage.Finish, w =>
            {
                ItemRef(w, MessageId, messageIndex);
                w.WriteNumber("content_index", 0);
                w.WriteString("text", text);
                w.WriteStartArray("logprobs");
                w.WriteEndArray();
            });
            Add("response.content_part.done", StreamStage.Finish, w =>
            {
                ItemRef(w, MessageId, messageIndex);
                w.WriteNumber("content_index", 0);
                w.WritePropertyName("part");
                TextPart(w, text);
            });
            Add("response.output_item.done", StreamStage.Finish, w =>
            {
                w.WriteNumber("output_index", messageIndex);
                w.WritePropertyName("item");
                WriteMessage(w, done: true);
            });
        }

        for (var c = 0; c < turn.ToolCalls.Count; c++)
        {
            var call = turn.ToolCalls[c];
            var itemId = CallItemId(c);
            var itemIndex = index++;
            Add("response.output_item.added", StreamStage.Tool, w =>
            {
                w.WriteNumber("output_index", itemIndex);
                w.WritePropertyName("item");
                WriteCall(w, call, itemId, done: false);
            });
            var deltaType = call.IsCustom ? "response.custom_tool_call_input.delta" : "response.function_call_arguments.delta";
            foreach (var piece in Wire.Split(call.Arguments, 2))
            {
                Add(deltaType, StreamStage.Tool, w =>
                {
                    ItemRef(w, itemId, itemIndex);
                    w.WriteString("delta", piece);
                });
            }

            Add(call.IsCustom ? "response.custom_tool_call_input.done" : "response.function_call_arguments.done", StreamStage.Finish, w =>
            {
                ItemRef(w, itemId, itemIndex);
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
            Add("response.output_item.done", StreamStage.Finish, w =>
            {
                w.WriteNumber("output_index", itemIndex);
                w.WritePropertyName("item");
                WriteCall(w, call, itemId, done: true);
            });
        }

        Add(Status == "incomplete" ? "response.incomplete" : "response.completed", StreamStage.Usage, w => WriteResponse(w, Status, includeOutput: true));
        return events;
    }

    /// <summary>A <c>response.failed</c> event with this error, numbered after the events already made.</summary>
    public StreamEvent FailedEvent(string code, string message) => new("response.failed", Wire.Json(w =>
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
    }), StreamStage.End);

    /// <summary>The whole Response object for a non-streamed request.</summary>
    public byte[] ResponseObject() => Wire.Json(w => WriteResponseObject(w, Status, includeOutput: true));

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

            if (turn.Text is not null)
            {
                WriteMessage(w, done: true);
            }

            for (var c = 0; c < turn.ToolCalls.Count; c++)
            {
                WriteCall(w, turn.ToolCalls[c], CallItemId(c), done: true);
            }
        }

        w.WriteEndArray();
        if (includeOutput && !faults.NoUsage)
        {
            var usage = turn.Usage;
            var bad = faults.BadUsage ? -1 : 1;
            w.WriteStartObject("usage");
            w.WriteNumber("input_tokens", bad * usage.Input);
            w.WriteStartObject("input_tokens_details");
            w.WriteNumber("cached_tokens", usage.Cached);
            w.WriteEndObject();
            w.WriteNumber("output_tokens", bad * usage.Output);
            w.WriteStartObject("output_tokens_details");
            w.WriteNumber("reasoning_tokens", usage.Reasoning);
            w.WriteEndObject();
            w.WriteNumber("total_tokens", bad * usage.Total);
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
            w.WriteString("reason", IncompleteReason);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("incomplete_details");
        }

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
            SummaryPart(w, turn.ReasoningSummary ?? "");
        }

        w.WriteEndArray();
        if (done)
        {
            w.WriteString("encrypted_content", turn.Seal);
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

    private static void WriteCall(Utf8JsonWriter w, SimulatedToolCall call, string itemId, bool done)
    {
        w.WriteStartObject();
        w.WriteString("type", call.IsCustom ? "custom_tool_call" : "function_call");
        w.WriteString("id", itemId);
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
}
