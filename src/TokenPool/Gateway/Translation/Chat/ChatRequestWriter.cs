using System.Buffers;
using System.Text;
using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Chat;

/// <summary>
/// Writes a <see cref="Conversation"/> as a Chat Completions request for an upstream that serves only that API
/// (vLLM, Ollama, DeepSeek, SGLang; protocols §11.2).
/// <list type="number">
/// <item>The upstream model; exactly one output limit (<see cref="BridgeOptions.OutputLimit"/>, in
/// <see cref="BridgeOptions.OutputLimitField"/>); on streams <c>stream_options.include_usage:true</c>, so usage is exact.</item>
/// <item>One system message first: the instructions and every system/developer message, in order (many chat
/// templates refuse a system message anywhere else).</item>
/// <item>User messages: text (parts joined by blank lines) or, with images, content parts.</item>
/// <item>One assistant message per assistant turn: its text, its <c>tool_calls</c>, and the reasoning the upstream made
/// last time (<c>reasoning_content</c> or <c>reasoning</c>, restored from TokenPool's seal) — DeepSeek needs it back
/// before a tool result, so once any turn carries it, a tool-call turn whose reasoning is lost gets the field empty.</item>
/// <item>Tool results as <c>role:"tool"</c> messages (an error is said in the text, as Chat has no flag; images are
/// left out). A call with no result gets one that says so, and a result with no call becomes user text, since Chat
/// servers refuse both.</item>
/// <item>Tools as functions: a custom tool takes one string, <c>input</c> (its grammar in the description); Codex's
/// tool search is a function. <c>tool_choice</c> and <c>parallel_tool_calls</c> only with tools.</item>
/// <item><c>temperature</c>, <c>top_p</c>, <c>stop</c>, <c>reasoning_effort</c> (low, medium or high: minimal counts as
/// low, xhigh as high, none is left out because vLLM refuses it), <c>response_format</c>.</item>
/// </list>
/// </summary>
internal static class ChatRequestWriter
{
    private const string CustomInputSchema = """{"type":"object","properties":{"input":{"type":"string","description":"The tool's whole input, as free-form text."}},"required":["input"],"additionalProperties":false}""";

    public static byte[] Write(Conversation conversation, BridgeOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = ApiError.WriterOptions.Encoder, SkipValidation = true }))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, options.UpstreamModel);
            json.WriteStartArray("messages"u8);
            WriteMessages(json, conversation);
            json.WriteEndArray();

            if (conversation.Tools.Count > 0)
            {
                json.WriteStartArray("tools"u8);
                foreach (var tool in conversation.Tools)
                {
                    json.WriteStartObject();
                    json.WriteString("type"u8, "function"u8);
                    json.WriteStartObject("function"u8);
                    json.WriteString("name"u8, tool.Name);
                    if (tool.Description is { Length: > 0 } description)
                    {
                        json.WriteString("description"u8, description);
                    }

                    json.WritePropertyName("parameters"u8);
                    json.WriteRawValue(tool.Kind == ToolKind.Custom ? CustomInputSchema : tool.ParametersJson ?? """{"type":"object","properties":{}}""", skipInputValidation: true);
                    if (tool.Strict == true)
                    {
                        json.WriteBoolean("strict"u8, true);
                    }

                    json.WriteEndObject();
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                WriteToolChoice(json, conversation.ToolChoice);
                if (conversation.ParallelToolCalls is { } parallel)
                {
                    json.WriteBoolean("parallel_tool_calls"u8, parallel);
                }
            }

            if (options.OutputLimit is { } limit)
            {
                json.WriteNumber(options.OutputLimitField ?? "max_tokens", limit);
            }

            if (conversation.Temperature is { } temperature)
            {
                json.WriteNumber("temperature"u8, temperature);
            }

            if (conversation.TopP is { } topP)
            {
                json.WriteNumber("top_p"u8, topP);
            }

            if (conversation.Stop.Count > 0)
            {
                json.WriteStartArray("stop"u8);
                foreach (var stop in conversation.Stop)
                {
                    json.WriteStringValue(stop);
                }

                json.WriteEndArray();
            }

            if (!options.OmitReasoningEffort && Effort(conversation.Effort) is { } effort)
            {
                json.WriteString("reasoning_effort"u8, effort);
            }

            if (conversation.Format is { } format)
            {
                json.WriteStartObject("response_format"u8);
                json.WriteString("type"u8, format.Type);
                if (format.Type == "json_schema")
                {
                    json.WriteStartObject("json_schema"u8);
                    json.WriteString("name"u8, format.Name ?? "output");
                    if (format.SchemaJson is { } schema)
                    {
                        json.WritePropertyName("schema"u8);
                        json.WriteRawValue(schema, skipInputValidation: true);
                    }

                    if (format.Strict is { } strict)
                    {
                        json.WriteBoolean("strict"u8, strict);
                    }

                    json.WriteEndObject();
                }

                json.WriteEndObject();
            }

            json.WriteBoolean("stream"u8, options.Stream);
            if (options.Stream)
            {
                json.WriteStartObject("stream_options"u8);
                json.WriteBoolean("include_usage"u8, true);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The Chat <c>reasoning_effort</c> for a pivot effort; null leaves it out.</summary>
    public static string? Effort(string? effort) => effort switch
    {
        "minimal" or "low" => "low",
        "medium" => "medium",
        "high" or "xhigh" or "max" => "high",
        _ => null,
    };

    private static void WriteMessages(Utf8JsonWriter json, Conversation conversation)
    {
        var system = new StringBuilder();
        foreach (var text in conversation.Instructions)
        {
            AppendParagraph(system, text);
        }

        foreach (var item in conversation.Items)
        {
            if (item is MessageItem { Role: ItemRole.System } message)
            {
                AppendParagraph(system, JoinText(message.Content));
            }
        }

        if (system.Length > 0)
        {
            json.WriteStartObject();
            json.WriteString("role"u8, "system"u8);
            json.WriteString("content"u8, system.ToString());
            json.WriteEndObject();
        }

        // An upstream in thinking mode (DeepSeek) refuses an assistant tool-call message without its reasoning. When any
        // earlier turn carries this upstream's reasoning, the turns whose reasoning is lost get the field, empty.
        var replay = conversation.Items.OfType<ReasoningItem>().Select(r => r.Carry?.Origin)
            .FirstOrDefault(o => o is ReasoningOrigin.ChatReasoningContent or ReasoningOrigin.ChatReasoning);
        var turn = new AssistantTurn { ReplayField = replay };
        var calls = new HashSet<string>(StringComparer.Ordinal);
        var unanswered = new List<string>();
        foreach (var item in conversation.Items)
        {
            switch (item)
            {
                case MessageItem { Role: ItemRole.System }:
                    break;
                case MessageItem { Role: ItemRole.Assistant } assistant:
                    turn.Text.Add(JoinText(assistant.Content));
                    break;
                case ReasoningItem reasoning:
                    if (turn.HasContent)
                    {
                        turn.Flush(json, unanswered);
                    }

                    if (reasoning.Carry is { Origin: ReasoningOrigin.ChatReasoningContent or ReasoningOrigin.ChatReasoning } carry)
                    {
                        turn.Reasoning = carry;
                    }

                    break;
                case ToolCallItem call:
                    turn.Calls.Add(call);
                    calls.Add(call.CallId);
                    break;
                case ToolResultItem result:
                    turn.Flush(json, unanswered);
                    if (calls.Contains(result.CallId))
                    {
                        unanswered.Remove(result.CallId);
                        json.WriteStartObject();
                        json.WriteString("role"u8, "tool"u8);
                        json.WriteString("tool_call_id"u8, result.CallId);
                        json.WriteString("content"u8, (result.IsError ? "Error: " : "") + JoinText(result.Output));
                        json.WriteEndObject();
                    }
                    else
                    {
                        WriteUser(json, [new TextPart($"Result of tool call {result.CallId}:\n{JoinText(result.Output)}")]);
                    }

                    break;
                case MessageItem user:
                    turn.Flush(json, unanswered);
                    AnswerUnanswered(json, unanswered);
                    WriteUser(json, user.Content);
                    break;
            }
        }

        turn.Flush(json, unanswered);
    }

    private static void AnswerUnanswered(Utf8JsonWriter json, List<string> unanswered)
    {
        foreach (var id in unanswered)
        {
            json.WriteStartObject();
            json.WriteString("role"u8, "tool"u8);
            json.WriteString("tool_call_id"u8, id);
            json.WriteString("content"u8, "(The call was not run.)"u8);
            json.WriteEndObject();
        }

        unanswered.Clear();
    }

    private static void WriteUser(Utf8JsonWriter json, IReadOnlyList<ContentPart> content)
    {
        json.WriteStartObject();
        json.WriteString("role"u8, "user"u8);
        if (content.Any(part => part is ImagePart))
        {
            json.WriteStartArray("content"u8);
            foreach (var part in content)
            {
                json.WriteStartObject();
                if (part is ImagePart image)
                {
                    json.WriteString("type"u8, "image_url"u8);
                    json.WriteStartObject("image_url"u8);
                    json.WriteString("url"u8, image.Url);
                    if (image.Detail is { } detail)
                    {
                        json.WriteString("detail"u8, detail);
                    }

                    json.WriteEndObject();
                }
                else
                {
                    json.WriteString("type"u8, "text"u8);
                    json.WriteString("text"u8, ((TextPart)part).Text);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
        }
        else
        {
            json.WriteString("content"u8, JoinText(content));
        }

        json.WriteEndObject();
    }

    private static void WriteToolChoice(Utf8JsonWriter json, ToolChoice? choice)
    {
        switch (choice?.Mode)
        {
            case null:
                return;
            case ToolChoiceMode.Named:
                json.WriteStartObject("tool_choice"u8);
                json.WriteString("type"u8, "function"u8);
                json.WriteStartObject("function"u8);
                json.WriteString("name"u8, choice.Name);
                json.WriteEndObject();
                json.WriteEndObject();
                return;
            default:
                json.WriteString("tool_choice"u8, choice.Mode switch
                {
                    ToolChoiceMode.None => "none",
                    ToolChoiceMode.Required => "required",
                    _ => "auto",
                });
                return;
        }
    }

    internal static string JoinText(IReadOnlyList<ContentPart> parts)
    {
        if (parts.Count == 1 && parts[0] is TextPart single)
        {
            return single.Text;
        }

        var text = new StringBuilder();
        foreach (var part in parts)
        {
            AppendParagraph(text, part is TextPart t ? t.Text : "[image]");
        }

        return text.ToString();
    }

    private static void AppendParagraph(StringBuilder text, string paragraph)
    {
        if (paragraph.Length == 0)
        {
            return;
        }

        if (text.Length > 0)
        {
            text.Append("\n\n");
        }

        text.Append(paragraph);
    }

    /// <summary>The assistant side of one turn, gathered until a user or tool message ends it.</summary>
    private sealed class AssistantTurn
    {
        public List<string> Text { get; } = [];

        public List<ToolCallItem> Calls { get; } = [];

        public ReasoningCarry? Reasoning { get; set; }

        /// <summary>The reasoning field to write, empty, on a tool-call turn whose reasoning is lost; null writes none.</summary>
        public ReasoningOrigin? ReplayField { get; init; }

        public bool HasContent => Text.Count > 0 || Calls.Count > 0;

        public void Flush(Utf8JsonWriter json, List<string> unanswered)
        {
            if (!HasContent)
            {
                Reasoning = null;
                return;
            }

            json.WriteStartObject();
            json.WriteString("role"u8, "assistant"u8);
            var text = string.Join("\n\n", Text.Where(t => t.Length > 0));
            if (text.Length > 0)
            {
                json.WriteString("content"u8, text);
            }
            else
            {
                json.WriteNull("content"u8);
            }

            if (Reasoning is { } reasoning)
            {
                json.WriteString(reasoning.Origin == ReasoningOrigin.ChatReasoning ? "reasoning"u8 : "reasoning_content"u8, reasoning.Text);
            }
            else if (ReplayField is { } field && Calls.Count > 0)
            {
                json.WriteString(field == ReasoningOrigin.ChatReasoning ? "reasoning"u8 : "reasoning_content"u8, ""u8);
            }

            if (Calls.Count > 0)
            {
                json.WriteStartArray("tool_calls"u8);
                foreach (var call in Calls)
                {
                    json.WriteStartObject();
                    json.WriteString("id"u8, call.CallId);
                    json.WriteString("type"u8, "function"u8);
                    json.WriteStartObject("function"u8);
                    json.WriteString("name"u8, call.Name);
                    json.WriteString("arguments"u8, call.Kind == ToolKind.Custom ? CustomArguments(call.Arguments) : call.Arguments);
                    json.WriteEndObject();
                    json.WriteEndObject();
                    unanswered.Add(call.CallId);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
            Text.Clear();
            Calls.Clear();
            Reasoning = null;
        }
    }

    /// <summary>A custom tool's raw input as the arguments of the function that stands for it: <c>{"input":"…"}</c>.</summary>
    internal static string CustomArguments(string input)
    {
        var buffer = new ArrayBufferWriter<byte>(input.Length + 16);
        using (var json = new Utf8JsonWriter(buffer, ApiError.WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("input"u8, input);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
