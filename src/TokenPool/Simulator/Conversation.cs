using System.Globalization;
using System.Text.Json.Nodes;

namespace TokenPool.Simulator;

/// <summary>
/// A request to the simulator read into one shape whatever API it came in: the parts of the
/// conversation in order, the tools offered, the output limits, whether reasoning was asked for, and
/// the segments its prompt is made of (for the prompt-cache model). The simulated model decides its
/// answer from this alone, so it behaves the same natively and behind any translation.
/// </summary>
internal sealed class Conversation
{
    public required SimulatedApi Api { get; init; }

    public required JsonObject Body { get; init; }

    public string Model { get; init; } = "unknown";

    public bool Stream { get; init; }

    public List<ConversationPart> Parts { get; } = [];

    public List<SimulatedTool> Tools { get; } = [];

    /// <summary>Chat: the indexes of assistant messages with tool calls but no <c>reasoning_content</c> (DeepSeek refuses them in thinking mode).</summary>
    public List<int> ToolCallsWithoutReasoning { get; } = [];

    /// <summary>The prompt in order (tools, system, then each message or item), as JSON text, with Anthropic cache breakpoints.</summary>
    public List<PromptSegment> Segments { get; } = [];

    /// <summary>Output limits the request sets, by field name (<c>max_tokens</c>, <c>max_completion_tokens</c>, <c>max_output_tokens</c>).</summary>
    public Dictionary<string, long> Limits { get; } = new(StringComparer.Ordinal);

    public bool WantsReasoning { get; init; }

    /// <summary>Strings that end the answer where they appear (Chat <c>stop</c>, Messages <c>stop_sequences</c>).</summary>
    public List<string> StopSequences { get; } = [];

    /// <summary>Anthropic <c>thinking.display: "omitted"</c>: thinking blocks carry a signature but no text.</summary>
    public bool ThinkingOmitted { get; init; }

    public string? PreviousResponseId { get; init; }

    /// <summary>Responses <c>store</c> (true unless the request says false, as on OpenAI).</summary>
    public bool Store { get; init; } = true;

    /// <summary>Chat <c>stream_options</c>, when sent.</summary>
    public JsonObject? StreamOptions { get; init; }

    /// <summary>A problem with the request a real server refuses with 400, phrased as it phrases it.</summary>
    public string? Invalid { get; private set; }

    /// <summary>The last user message that carries text of its own (not only tool results or reminders): the task.</summary>
    public string? TaskText
    {
        get
        {
            var index = TaskIndex;
            return index < 0 ? null : Parts[index].Text;
        }
    }

    /// <summary>Where <see cref="TaskText"/> sits in <see cref="Parts"/>, or -1.</summary>
    public int TaskIndex
    {
        get
        {
            for (var i = Parts.Count - 1; i >= 0; i--)
            {
                if (Parts[i] is { Role: "user", Kind: PartKind.Text } part && !part.Text.StartsWith("<system-reminder>", StringComparison.Ordinal)
                    && !part.Text.StartsWith("<environment_context>", StringComparison.Ordinal))
                {
                    return i;
                }
            }

            return -1;
        }
    }

    /// <summary>All text the client sent (system prompts included), for finding its working directory.</summary>
    public IEnumerable<string> AllText => Parts.Where(p => p.Kind == PartKind.Text).Select(p => p.Text);

    public static Conversation Read(SimulatedApi api, JsonObject body) => api switch
    {
        SimulatedApi.Responses => ReadResponses(body),
        SimulatedApi.Chat => ReadChat(body),
        _ => ReadMessages(body),
    };

    private static Conversation ReadResponses(JsonObject body)
    {
        var effort = (string?)(body["reasoning"] as JsonObject)?["effort"];
        var conversation = new Conversation
        {
            Api = SimulatedApi.Responses,
            Body = body,
            Model = Str(body["model"]) ?? "unknown",
            Stream = Bool(body["stream"]),
            WantsReasoning = body["reasoning"] is JsonObject && effort != "none",
            PreviousResponseId = Str(body["previous_response_id"]),
            Store = body["store"] is not JsonValue store || !store.TryGetValue<bool>(out var stored) || stored,
        };
        conversation.ReadLimit(body, "max_output_tokens");
        conversation.ReadTools(body["tools"] as JsonArray, chat: false);
        if (Str(body["instructions"]) is { } instructions)
        {
            conversation.Parts.Add(new ConversationPart("system", PartKind.Text, instructions));
            conversation.Segments.Add(new PromptSegment(instructions));
        }

        if (Str(body["input"]) is { } plain)
        {
            conversation.Parts.Add(new ConversationPart("user", PartKind.Text, plain));
            conversation.Segments.Add(new PromptSegment(body["input"]!.ToJsonString()));
            return conversation;
        }

        foreach (var item in (body["input"] as JsonArray ?? []).OfType<JsonObject>())
        {
            conversation.Segments.Add(new PromptSegment(item.ToJsonString()));
            var type = Str(item["type"]) ?? "message";
            switch (type)
            {
                case "message":
                    conversation.Parts.Add(new ConversationPart(Str(item["role"]) ?? "user", PartKind.Text, ContentText(item["content"]) ?? ""));
                    break;
                case "function_call":
                    conversation.Parts.Add(new ConversationPart("assistant", PartKind.ToolCall, Str(item["arguments"]) ?? "", Str(item["name"]), Str(item["call_id"])));
                    break;
                case "custom_tool_call":
                    conversation.Parts.Add(new ConversationPart("assistant", PartKind.ToolCall, Str(item["input"]) ?? "", Str(item["name"]), Str(item["call_id"])));
                    break;
                case "function_call_output" or "custom_tool_call_output":
                    conversation.Parts.Add(new ConversationPart("tool", PartKind.ToolResult, ContentText(item["output"]) ?? "", CallId: Str(item["call_id"])));
                    break;
                case "reasoning":
                    var summary = string.Join("\n", (item["summary"] as JsonArray ?? []).OfType<JsonObject>().Select(s => Str(s["text"])));
                    conversation.Parts.Add(new ConversationPart("assistant", PartKind.Reasoning, summary, Seal: Str(item["encrypted_content"]), ItemId: Str(item["id"])));
                    break;
            }
        }

        return conversation;
    }

    private static Conversation ReadChat(JsonObject body)
    {
        var effort = Str(body["reasoning_effort"]) ?? Str((body["reasoning"] as JsonObject)?["effort"]);
        var thinking = Str((body["thinking"] as JsonObject)?["type"]);
        var conversation = new Conversation
        {
            Api = SimulatedApi.Chat,
            Body = body,
            Model = Str(body["model"]) ?? "unknown",
            Stream = Bool(body["stream"]),
            WantsReasoning = thinking is not null ? thinking == "enabled"
                : (effort is not null && effort != "none") || (Str(body["model"])?.Contains("reasoner", StringComparison.Ordinal) ?? false),
            StreamOptions = body["stream_options"] as JsonObject,
        };
        conversation.ReadLimit(body, "max_tokens");
        conversation.ReadLimit(body, "max_completion_tokens");
        conversation.ReadStops(body["stop"]);
        conversation.ReadTools(body["tools"] as JsonArray, chat: true);
        var messageIndex = -1;
        foreach (var message in (body["messages"] as JsonArray ?? []).OfType<JsonObject>())
        {
            messageIndex++;
            conversation.Segments.Add(new PromptSegment(message.ToJsonString()));
            var role = Str(message["role"]) ?? "user";
            if (role == "tool")
            {
                conversation.Parts.Add(new ConversationPart("tool", PartKind.ToolResult, ContentText(message["content"]) ?? "", CallId: Str(message["tool_call_id"])));
                continue;
            }

            var reasoning = Str(message["reasoning_content"]) ?? Str(message["reasoning"]);
            if (role == "assistant" && reasoning is not null)
            {
                conversation.Parts.Add(new ConversationPart("assistant", PartKind.Reasoning, reasoning));
            }

            if (ContentText(message["content"]) is { Length: > 0 } text)
            {
                conversation.Parts.Add(new ConversationPart(role, PartKind.Text, text));
            }

            foreach (var call in (message["tool_calls"] as JsonArray ?? []).OfType<JsonObject>())
            {
                var function = call["function"] as JsonObject;
                conversation.Parts.Add(new ConversationPart("assistant", PartKind.ToolCall, Str(function?["arguments"]) ?? "", Str(function?["name"]), Str(call["id"])));
                if (reasoning is null)
                {
                    conversation.ToolCallsWithoutReasoning.Add(messageIndex);
                }
            }
        }

        return conversation;
    }

    private static Conversation ReadMessages(JsonObject body)
    {
        var thinking = body["thinking"] as JsonObject;
        var conversation = new Conversation
        {
            Api = SimulatedApi.Messages,
            Body = body,
            Model = Str(body["model"]) ?? "unknown",
            Stream = Bool(body["stream"]),
            WantsReasoning = Str(thinking?["type"]) is "enabled" or "adaptive",
            ThinkingOmitted = Str(thinking?["display"]) == "omitted",
        };
        conversation.ReadLimit(body, "max_tokens");
        conversation.ReadStops(body["stop_sequences"]);
        if (body["model"] is null)
        {
            conversation.Invalid = "model: Field required";
        }
        else if (body["max_tokens"] is null)
        {
            conversation.Invalid = "max_tokens: Field required";
        }
        else if (body["messages"] is not JsonArray)
        {
            conversation.Invalid = "messages: Field required";
        }

        foreach (var tool in (body["tools"] as JsonArray ?? []).OfType<JsonObject>())
        {
            conversation.Segments.Add(new PromptSegment(tool.ToJsonString(), CacheTtl(tool)));
            if (Str(tool["name"]) is { } name && Str(tool["type"]) is null or "custom")
            {
                conversation.Tools.Add(new SimulatedTool(name, false, tool["input_schema"] as JsonObject));
            }
        }

        if (Str(body["system"]) is { } systemText)
        {
            conversation.Parts.Add(new ConversationPart("system", PartKind.Text, systemText));
            conversation.Segments.Add(new PromptSegment(body["system"]!.ToJsonString()));
        }

        foreach (var block in (body["system"] as JsonArray ?? []).OfType<JsonObject>())
        {
            conversation.Parts.Add(new ConversationPart("system", PartKind.Text, Str(block["text"]) ?? ""));
            conversation.Segments.Add(new PromptSegment(block.ToJsonString(), CacheTtl(block)));
        }

        var index = 0;
        foreach (var message in (body["messages"] as JsonArray ?? []).OfType<JsonObject>())
        {
            var role = Str(message["role"]) ?? "user";
            if (Str(message["content"]) is { } plain)
            {
                conversation.Parts.Add(new ConversationPart(role, PartKind.Text, plain));
                conversation.Segments.Add(new PromptSegment(message.ToJsonString()));
                index++;
                continue;
            }

            var blockIndex = 0;
            foreach (var block in (message["content"] as JsonArray ?? []).OfType<JsonObject>())
            {
                conversation.Segments.Add(new PromptSegment(block.ToJsonString(), CacheTtl(block)));
                switch (Str(block["type"]))
                {
                    case "text":
                        conversation.Parts.Add(new ConversationPart(role, PartKind.Text, Str(block["text"]) ?? ""));
                        break;
                    case "tool_use":
                        conversation.Parts.Add(new ConversationPart("assistant", PartKind.ToolCall, block["input"]?.ToJsonString() ?? "{}", Str(block["name"]), Str(block["id"])));
                        break;
                    case "tool_result":
                        conversation.Parts.Add(new ConversationPart("tool", PartKind.ToolResult, ContentText(block["content"]) ?? "", CallId: Str(block["tool_use_id"])));
                        break;
                    case "thinking":
                        conversation.Parts.Add(new ConversationPart("assistant", PartKind.Reasoning, Str(block["thinking"]) ?? "", Seal: Str(block["signature"]) ?? "",
                            ItemId: string.Create(CultureInfo.InvariantCulture, $"messages.{index}.content.{blockIndex}")));
                        break;
                }

                blockIndex++;
            }

            index++;
        }

        return conversation;
    }

    private void ReadTools(JsonArray? tools, bool chat)
    {
        if (tools is null)
        {
            return;
        }

        Segments.Insert(0, new PromptSegment(tools.ToJsonString()));
        foreach (var tool in tools.OfType<JsonObject>())
        {
            if (chat)
            {
                if (tool["function"] is JsonObject function && Str(function["name"]) is { } name)
                {
                    Tools.Add(new SimulatedTool(name, false, function["parameters"] as JsonObject));
                }

                continue;
            }

            switch (Str(tool["type"]))
            {
                case "function" when Str(tool["name"]) is { } name:
                    Tools.Add(new SimulatedTool(name, false, tool["parameters"] as JsonObject));
                    break;
                case "custom" when Str(tool["name"]) is { } name:
                    Tools.Add(new SimulatedTool(name, true, null));
                    break;
            }
        }
    }

    private void ReadStops(JsonNode? stops)
    {
        if (Str(stops) is { Length: > 0 } one)
        {
            StopSequences.Add(one);
        }

        StopSequences.AddRange((stops as JsonArray ?? []).Select(Str).OfType<string>().Where(s => s.Length > 0));
    }

    private void ReadLimit(JsonObject body, string field)
    {
        if (body[field] is JsonValue value && value.TryGetValue<long>(out var limit))
        {
            Limits[field] = limit;
        }
        else if (body[field] is JsonValue number && number.TryGetValue<double>(out var real))
        {
            Limits[field] = (long)real;
        }
    }

    private static string? CacheTtl(JsonObject block) =>
        block["cache_control"] is JsonObject control ? Str(control["ttl"]) ?? "5m" : null;

    internal static string? Str(JsonNode? node) => node is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    private static bool Bool(JsonNode? node) => node is JsonValue value && value.TryGetValue<bool>(out var flag) && flag;

    /// <summary>The text of a content field: a string, or the text of its parts (Responses, Chat and Anthropic blocks alike).</summary>
    internal static string? ContentText(JsonNode? content) => content switch
    {
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonArray parts => string.Join("\n", parts.OfType<JsonObject>().Select(p => Str(p["text"]) ?? ContentText(p["content"])).Where(t => t is not null)),
        _ => null,
    };
}
