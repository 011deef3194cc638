using System.Buffers;
using System.Text;
using System.Text.Json;
using TokenPool.Gateway.Translation.Chat;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Messages;

/// <summary>
/// Writes a <see cref="Conversation"/> as an Anthropic Messages request (Codex or a Chat client on a Claude model).
/// <list type="number">
/// <item>The upstream model; <c>max_tokens</c>, which Anthropic requires, from <see cref="BridgeOptions.OutputLimit"/>
/// (<see cref="DefaultMaxTokens"/> when the gateway gives none); <c>stream</c>.</item>
/// <item><c>system</c>: the instructions and every system message, in order (Anthropic accepts system messages in
/// the conversation only for a few models).</item>
/// <item>Alternating user and assistant messages (neighbours of one role merged): text and image blocks (a
/// <c>data:</c> URL → base64, else a URL); assistant thinking restored from TokenPool's seal when an Anthropic
/// channel made it (its exact text and <c>signature</c>, or a <c>redacted_thinking</c> block), first in its
/// message; calls as <c>tool_use</c> (JSON arguments → the <c>input</c> object; a custom tool's input as
/// <c>{"input":…}</c>); results as <c>tool_result</c> blocks with <c>is_error</c>. Ids are kept to the characters
/// Anthropic accepts; empty text is left out (Anthropic refuses it).</item>
/// <item>Tools with <c>input_schema</c>; <c>tool_choice</c> (<c>auto</c>, <c>any</c>, <c>tool</c>, <c>none</c>) with
/// <c>disable_parallel_tool_use</c>; <c>stop_sequences</c>; <c>temperature</c> (at most 1) and <c>top_p</c>, both left
/// out with thinking on, as Anthropic requires.</item>
/// <item>Thinking from the effort: low 2,048 budget tokens, medium 8,192, high 16,384, xhigh 32,000, always below
/// <c>max_tokens</c>; none or minimal, or a limit too small for 1,024, turns it off. It is also off when the
/// conversation continues a tool call whose thinking cannot be restored (Anthropic refuses that turn with thinking on).</item>
/// </list>
/// </summary>
internal static class MessagesRequestWriter
{
    public const long DefaultMaxTokens = 8192;

    private const string CustomInputSchema = """{"type":"object","properties":{"input":{"type":"string","description":"The tool's whole input, as free-form text."}},"required":["input"]}""";

    public static byte[] Write(Conversation conversation, BridgeOptions options)
    {
        var maxTokens = options.OutputLimit ?? DefaultMaxTokens;
        var budget = options.OmitReasoningEffort ? null : ThinkingBudget(conversation, maxTokens);
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = ApiError.WriterOptions.Encoder, SkipValidation = true }))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, options.UpstreamModel);
            json.WriteNumber("max_tokens"u8, maxTokens);
            var system = new StringBuilder();
            foreach (var text in conversation.Instructions)
            {
                Paragraph(system, text);
            }

            foreach (var item in conversation.Items)
            {
                if (item is MessageItem { Role: ItemRole.System } message)
                {
                    Paragraph(system, ChatRequestWriter.JoinText(message.Content));
                }
            }

            if (system.Length > 0)
            {
                json.WriteString("system"u8, system.ToString());
            }

            json.WriteStartArray("messages"u8);
            WriteMessages(json, conversation);
            json.WriteEndArray();

            if (conversation.Tools.Count > 0)
            {
                json.WriteStartArray("tools"u8);
                foreach (var tool in conversation.Tools)
                {
                    json.WriteStartObject();
                    json.WriteString("name"u8, tool.Name);
                    if (tool.Description is { Length: > 0 } description)
                    {
                        json.WriteString("description"u8, description);
                    }

                    json.WritePropertyName("input_schema"u8);
                    json.WriteRawValue(tool.Kind == ToolKind.Custom ? CustomInputSchema : tool.ParametersJson ?? """{"type":"object","properties":{}}""", skipInputValidation: true);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                var mode = conversation.ToolChoice?.Mode;
                var noParallel = conversation.ParallelToolCalls == false;
                if (mode is not null || noParallel)
                {
                    json.WriteStartObject("tool_choice"u8);
                    json.WriteString("type"u8, mode switch
                    {
                        ToolChoiceMode.Required => "any",
                        ToolChoiceMode.Named => "tool",
                        ToolChoiceMode.None => "none",
                        _ => "auto",
                    });
                    if (mode == ToolChoiceMode.Named)
                    {
                        json.WriteString("name"u8, conversation.ToolChoice!.Name);
                    }

                    if (noParallel && mode != ToolChoiceMode.None)
                    {
                        json.WriteBoolean("disable_parallel_tool_use"u8, true);
                    }

                    json.WriteEndObject();
                }
            }

            if (conversation.Stop.Count > 0)
            {
                json.WriteStartArray("stop_sequences"u8);
                foreach (var stop in conversation.Stop)
                {
                    json.WriteStringValue(stop);
                }

                json.WriteEndArray();
            }

            if (budget is { } thinking)
            {
                json.WriteStartObject("thinking"u8);
                json.WriteString("type"u8, "enabled"u8);
                json.WriteNumber("budget_tokens"u8, thinking);
                json.WriteEndObject();
            }
            else
            {
                if (conversation.Temperature is { } temperature)
                {
                    json.WriteNumber("temperature"u8, Math.Min(1.0, temperature));
                }

                if (conversation.TopP is { } topP)
                {
                    json.WriteNumber("top_p"u8, topP);
                }
            }

            json.WriteBoolean("stream"u8, options.Stream);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The thinking budget for the effort asked; null turns thinking off.</summary>
    internal static long? ThinkingBudget(Conversation conversation, long maxTokens)
    {
        long budget = conversation.Effort switch
        {
            "low" => 2048,
            "medium" => 8192,
            "high" => 16384,
            "xhigh" or "max" => 32000,
            _ => 0,
        };
        budget = Math.Min(budget, maxTokens - 1);
        if (budget < 1024)
        {
            return null;
        }

        // A conversation that ends in tool results continues the last assistant turn, which must then open with its thinking.
        for (var i = conversation.Items.Count - 1; i >= 0; i--)
        {
            switch (conversation.Items[i])
            {
                case ToolResultItem:
                    continue;
                case ToolCallItem:
                    for (var j = i; j >= 0; j--)
                    {
                        if (conversation.Items[j] is ReasoningItem { Carry.Origin: ReasoningOrigin.MessagesThinking or ReasoningOrigin.MessagesRedacted })
                        {
                            return budget;
                        }

                        if (conversation.Items[j] is not (ToolCallItem or MessageItem { Role: ItemRole.Assistant } or ReasoningItem))
                        {
                            return null;
                        }
                    }

                    return null;
                default:
                    return budget;
            }
        }

        return budget;
    }

    private static void WriteMessages(Utf8JsonWriter json, Conversation conversation)
    {
        var blocks = new List<Action<Utf8JsonWriter>>();
        string? role = null;

        void Switch(string next)
        {
            if (role == next)
            {
                return;
            }

            if (role is not null && blocks.Count > 0)
            {
                json.WriteStartObject();
                json.WriteString("role"u8, role);
                json.WriteStartArray("content"u8);
                foreach (var block in blocks)
                {
                    block(json);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            blocks.Clear();
            role = next;
        }

        foreach (var item in conversation.Items)
        {
            switch (item)
            {
                case MessageItem { Role: ItemRole.System }:
                    break;
                case MessageItem message:
                    Switch(message.Role == ItemRole.Assistant ? "assistant" : "user");
                    foreach (var part in message.Content)
                    {
                        if (part is TextPart { Text.Length: > 0 } text)
                        {
                            blocks.Add(w => TextBlock(w, text.Text));
                        }
                        else if (part is ImagePart image)
                        {
                            blocks.Add(w => ImageBlock(w, image));
                        }
                    }

                    break;
                case ReasoningItem { Carry: { Origin: ReasoningOrigin.MessagesThinking or ReasoningOrigin.MessagesRedacted } carry }:
                    Switch("assistant");
                    blocks.Insert(0, w =>
                    {
                        w.WriteStartObject();
                        if (carry.Origin == ReasoningOrigin.MessagesRedacted)
                        {
                            w.WriteString("type"u8, "redacted_thinking"u8);
                            w.WriteString("data"u8, carry.Blob ?? "");
                        }
                        else
                        {
                            w.WriteString("type"u8, "thinking"u8);
                            w.WriteString("thinking"u8, carry.Text);
                            w.WriteString("signature"u8, carry.Blob ?? "");
                        }

                        w.WriteEndObject();
                    });
                    break;
                case ToolCallItem call:
                    Switch("assistant");
                    blocks.Add(w =>
                    {
                        w.WriteStartObject();
                        w.WriteString("type"u8, "tool_use"u8);
                        w.WriteString("id"u8, ToolId(call.CallId));
                        w.WriteString("name"u8, call.Name);
                        w.WritePropertyName("input"u8);
                        WriteInput(w, call.Kind == ToolKind.Custom ? ChatRequestWriter.CustomArguments(call.Arguments) : call.Arguments);
                        w.WriteEndObject();
                    });
                    break;
                case ToolResultItem result:
                    Switch("user");
                    blocks.Add(w =>
                    {
                        w.WriteStartObject();
                        w.WriteString("type"u8, "tool_result"u8);
                        w.WriteString("tool_use_id"u8, ToolId(result.CallId));
                        w.WriteStartArray("content"u8);
                        foreach (var part in result.Output)
                        {
                            if (part is TextPart { Text.Length: > 0 } text)
                            {
                                TextBlock(w, text.Text);
                            }
                            else if (part is ImagePart image)
                            {
                                ImageBlock(w, image);
                            }
                        }

                        w.WriteEndArray();
                        if (result.IsError)
                        {
                            w.WriteBoolean("is_error"u8, true);
                        }

                        w.WriteEndObject();
                    });
                    break;
            }
        }

        Switch("");
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
            // Arguments that are not a JSON object cannot be an Anthropic tool input; the model sees them as text.
        }

        json.WriteStartObject();
        json.WriteString("arguments"u8, arguments);
        json.WriteEndObject();
    }

    private static void TextBlock(Utf8JsonWriter json, string text)
    {
        json.WriteStartObject();
        json.WriteString("type"u8, "text"u8);
        json.WriteString("text"u8, text);
        json.WriteEndObject();
    }

    private static void ImageBlock(Utf8JsonWriter json, ImagePart image)
    {
        json.WriteStartObject();
        json.WriteString("type"u8, "image"u8);
        json.WriteStartObject("source"u8);
        if (image.Url.StartsWith("data:", StringComparison.Ordinal) && image.Url.IndexOf(";base64,", StringComparison.Ordinal) is var at and > 5)
        {
            json.WriteString("type"u8, "base64"u8);
            json.WriteString("media_type"u8, image.Url[5..at]);
            json.WriteString("data"u8, image.Url[(at + 8)..]);
        }
        else
        {
            json.WriteString("type"u8, "url"u8);
            json.WriteString("url"u8, image.Url);
        }

        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>A tool id as Anthropic accepts it (letters, digits, <c>_</c>, <c>-</c>): Kimi's <c>functions.bash:0</c> becomes <c>functions_bash_0</c>.</summary>
    internal static string ToolId(string id)
    {
        if (id.Length == 0)
        {
            return "toolu_missing";
        }

        foreach (var c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                return string.Create(id.Length, id, static (span, source) =>
                {
                    for (var i = 0; i < source.Length; i++)
                    {
                        span[i] = char.IsAsciiLetterOrDigit(source[i]) || source[i] is '_' or '-' ? source[i] : '_';
                    }
                });
            }
        }

        return id;
    }

    private static void Paragraph(StringBuilder text, string paragraph)
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
}
