using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenPool.Simulator;

/// <summary>
/// Writes a <see cref="SimulatedTurn"/> as Anthropic's Messages API does (protocols.md §10.4, §10.6):
/// <c>message_start</c> (usage with input, cache read and cache creation), <c>ping</c>, then per content
/// block <c>content_block_start</c> / deltas / <c>content_block_stop</c> — a thinking block with
/// <c>thinking_delta</c> and <c>signature_delta</c>, a text block, a <c>tool_use</c> block with
/// <c>input_json_delta</c> fragments — then one <c>message_delta</c> (stop reason and cumulative usage)
/// and <c>message_stop</c>. The non-streamed form is the same message as one object.
/// </summary>
internal sealed class MessagesWire(SimulatedTurn turn, SimulatorFaults faults, bool thinkingOmitted, string messageId)
{
    private string StopReason => faults.Finish ?? (turn.ToolCall is not null ? "tool_use" : turn.Truncated ? "max_tokens" : turn.StopSequence is not null ? "stop_sequence" : "end_turn");

    public List<StreamEvent> Events()
    {
        var events = new List<StreamEvent>();
        void Add(string type, StreamStage stage, Action<Utf8JsonWriter> body) => events.Add(new StreamEvent(type, Wire.Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("type", type);
            body(w);
            w.WriteEndObject();
        }), stage));

        Add("message_start", StreamStage.Created, w =>
        {
            w.WritePropertyName("message");
            WriteMessage(w, streaming: true);
        });
        Add("ping", StreamStage.Created, _ => { });
        var index = 0;
        if (turn.ReasoningText is { } thinking)
        {
            var blockIndex = index++;
            Add("content_block_start", StreamStage.Reasoning, w =>
            {
                w.WriteNumber("index", blockIndex);
                w.WriteStartObject("content_block");
                w.WriteString("type", "thinking");
                w.WriteString("thinking", "");
                w.WriteString("signature", "");
                w.WriteEndObject();
            });
            if (!thinkingOmitted)
            {
                foreach (var piece in Wire.Split(thinking, 2))
                {
                    Add("content_block_delta", StreamStage.Reasoning, w => Delta(w, blockIndex, "thinking_delta", "thinking", piece));
                }
            }

            Add("content_block_delta", StreamStage.Reasoning, w => Delta(w, blockIndex, "signature_delta", "signature", turn.Seal!));
            Add("content_block_stop", StreamStage.Reasoning, w => w.WriteNumber("index", blockIndex));
        }

        if (turn.Text is { } text)
        {
            var blockIndex = index++;
            Add("content_block_start", StreamStage.Text, w =>
            {
                w.WriteNumber("index", blockIndex);
                w.WriteStartObject("content_block");
                w.WriteString("type", "text");
                w.WriteString("text", "");
                w.WriteEndObject();
            });
            foreach (var piece in Wire.Split(text, faults.Deltas ?? Wire.DefaultDeltas(text)))
            {
                Add("content_block_delta", StreamStage.Text, w => Delta(w, blockIndex, "text_delta", "text", piece));
            }

            Add("content_block_stop", turn.ToolCall is null ? StreamStage.Finish : StreamStage.Text, w => w.WriteNumber("index", blockIndex));
        }

        foreach (var call in turn.ToolCalls)
        {
            var blockIndex = index++;
            Add("content_block_start", StreamStage.Tool, w =>
            {
                w.WriteNumber("index", blockIndex);
                w.WriteStartObject("content_block");
                w.WriteString("type", "tool_use");
                w.WriteString("id", call.CallId);
                w.WriteString("name", call.Name);
                w.WriteStartObject("input");
                w.WriteEndObject();
                WriteCaller(w);
                w.WriteEndObject();
            });
            Add("content_block_delta", StreamStage.Tool, w => Delta(w, blockIndex, "input_json_delta", "partial_json", ""));
            foreach (var piece in Wire.Split(ToolInput(call).ToJsonString(), 3))
            {
                Add("content_block_delta", StreamStage.Tool, w => Delta(w, blockIndex, "input_json_delta", "partial_json", piece));
            }

            Add("content_block_stop", StreamStage.Finish, w => w.WriteNumber("index", blockIndex));
        }

        Add("message_delta", StreamStage.Usage, w =>
        {
            w.WriteStartObject("delta");
            w.WriteString("stop_reason", StopReason);
            WriteStopSequence(w);
            w.WriteEndObject();
            if (!faults.NoUsage)
            {
                WriteUsage(w, turn.Usage.Output);
            }
        });
        Add("message_stop", StreamStage.End, _ => { });
        return events;
    }

    /// <summary>The whole message for a non-streamed request.</summary>
    public byte[] MessageObject() => Wire.Json(w => WriteMessage(w, streaming: false));

    /// <summary>A mid-stream <c>event: error</c>, as Anthropic sends when it fails after the stream began (no <c>message_stop</c> follows).</summary>
    public static StreamEvent ErrorEvent(string type, string message) => new("error", Wire.Json(w =>
    {
        w.WriteStartObject();
        w.WriteString("type", "error");
        w.WriteStartObject("error");
        w.WriteString("type", type);
        w.WriteString("message", message);
        w.WriteEndObject();
        w.WriteEndObject();
    }), StreamStage.End);

    /// <summary>A <c>tool_use</c> id as Anthropic makes them.</summary>
    public static string NewToolUseId() => "toolu_01" + Wire.Id(22);

    /// <summary>A message id as Anthropic makes them.</summary>
    public static string NewMessageId() => "msg_01" + Wire.Id(22);

    private void WriteMessage(Utf8JsonWriter w, bool streaming)
    {
        w.WriteStartObject();
        w.WriteString("id", messageId);
        w.WriteString("type", "message");
        w.WriteString("role", "assistant");
        w.WriteString("model", turn.Model);
        w.WriteStartArray("content");
        if (!streaming)
        {
            if (turn.ReasoningText is { } thinking)
            {
                w.WriteStartObject();
                w.WriteString("type", "thinking");
                w.WriteString("thinking", thinkingOmitted ? "" : thinking);
                w.WriteString("signature", turn.Seal);
                w.WriteEndObject();
            }

            if (turn.Text is { } text)
            {
                w.WriteStartObject();
                w.WriteString("type", "text");
                w.WriteString("text", text);
                w.WriteEndObject();
            }

            foreach (var call in turn.ToolCalls)
            {
                w.WriteStartObject();
                w.WriteString("type", "tool_use");
                w.WriteString("id", call.CallId);
                w.WriteString("name", call.Name);
                w.WritePropertyName("input");
                ToolInput(call).WriteTo(w);
                WriteCaller(w);
                w.WriteEndObject();
            }
        }

        w.WriteEndArray();
        if (streaming)
        {
            w.WriteNull("stop_reason");
        }
        else
        {
            w.WriteString("stop_reason", StopReason);
        }

        if (streaming)
        {
            w.WriteNull("stop_sequence");
        }
        else
        {
            WriteStopSequence(w);
        }
        if (!faults.NoUsage)
        {
            WriteUsage(w, streaming ? 1 : turn.Usage.Output);
        }

        w.WriteEndObject();
    }

    private void WriteUsage(Utf8JsonWriter w, long output)
    {
        var usage = turn.Usage;
        var bad = faults.BadUsage ? -1 : 1;
        w.WriteStartObject("usage");
        w.WriteNumber("input_tokens", bad * usage.Uncached);
        w.WriteNumber("cache_creation_input_tokens", usage.CacheWrite5m + usage.CacheWrite1h);
        w.WriteNumber("cache_read_input_tokens", usage.Cached);
        w.WriteStartObject("cache_creation");
        w.WriteNumber("ephemeral_5m_input_tokens", usage.CacheWrite5m);
        w.WriteNumber("ephemeral_1h_input_tokens", usage.CacheWrite1h);
        w.WriteEndObject();
        w.WriteNumber("output_tokens", bad * output);
        w.WriteString("service_tier", "standard");
        w.WriteEndObject();
    }

    /// <summary>The call's arguments as the <c>input</c> object (a freeform input becomes <c>{"input": …}</c>).</summary>
    private static JsonNode ToolInput(SimulatedToolCall call)
    {
        if (!call.IsCustom)
        {
            try
            {
                if (JsonNode.Parse(call.Arguments) is JsonObject input)
                {
                    return input;
                }
            }
            catch (JsonException)
            {
                // Not JSON: carried as a string below.
            }
        }

        return new JsonObject { ["input"] = call.Arguments };
    }

    private void WriteStopSequence(Utf8JsonWriter w)
    {
        if (turn.StopSequence is { } stop && StopReason == "stop_sequence")
        {
            w.WriteString("stop_sequence", stop);
        }
        else
        {
            w.WriteNull("stop_sequence");
        }
    }

    /// <summary>Who made the call: the model itself (<c>direct</c>), as opposed to code it ran; current SDKs require the field.</summary>
    private static void WriteCaller(Utf8JsonWriter w)
    {
        w.WriteStartObject("caller");
        w.WriteString("type", "direct");
        w.WriteEndObject();
    }

    private static void Delta(Utf8JsonWriter w, int index, string type, string field, string value)
    {
        w.WriteNumber("index", index);
        w.WriteStartObject("delta");
        w.WriteString("type", type);
        w.WriteString(field, value);
        w.WriteEndObject();
    }
}
