using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;
using static TokenPool.Gateway.Translation.Responses.ResponsesRequestReader;

namespace TokenPool.Gateway.Translation.Messages;

/// <summary>
/// Reads an Anthropic Messages request (Claude Code; protocols §10.3, §11.3) into a <see cref="Conversation"/>.
/// <list type="bullet">
/// <item><c>system</c> (a string or text blocks) → instructions, leaving out Claude Code's first block, the
/// <c>x-anthropic-billing-header</c> line, which changes every request and would defeat the upstream's prompt cache;
/// <c>cache_control</c> is dropped everywhere.</item>
/// <item>A <c>role:"system"</c> message in the middle of the conversation → a system item in place.</item>
/// <item>Text and image blocks (base64 → a <c>data:</c> URL, or a URL); <c>tool_use</c> → a call (its <c>input</c> object as
/// JSON arguments); <c>tool_result</c> → a result, <c>is_error</c> kept; <c>thinking</c> → reasoning, with what the
/// upstream needs back if its <c>signature</c> is an intact TokenPool seal; <c>redacted_thinking</c>, documents and
/// server-tool blocks are left out.</item>
/// <item>Tools with <c>input_schema</c> → functions (<c>defer_loading</c> ignored: every tool is sent); Anthropic's server
/// tools (a <c>type</c> such as <c>web_search_20250305</c>) are left out.</item>
/// <item><c>tool_choice</c> (<c>auto</c>, <c>any</c> → required, <c>tool</c> → named, <c>none</c>;
/// <c>disable_parallel_tool_use</c> → no parallel calls), <c>stop_sequences</c>, <c>temperature</c>, <c>top_p</c>.</item>
/// <item>Effort: <c>output_config.effort</c> (low, medium, high as they are; <c>max</c> → xhigh), else
/// <c>thinking</c>: <c>enabled</c> with a budget below 4,000 → low, below 16,000 → medium, else high; <c>adaptive</c> →
/// medium; <c>disabled</c> → none.</item>
/// <item>Not carried: <c>metadata</c>, <c>context_management</c>, <c>top_k</c>, <c>service_tier</c>; the output limit is the gateway's.</item>
/// </list>
/// </summary>
internal static class MessagesRequestReader
{
    public const string BillingHeaderPrefix = "x-anthropic-billing-header:";

    public static (Conversation? Conversation, ApiError? Error, Dictionary<string, ToolOrigin> Tools) Read(JsonElement root, ReasoningSeal seal)
    {
        var conversation = new Conversation();
        var tools = new Dictionary<string, ToolOrigin>(StringComparer.Ordinal);
        if (root.TryGetProperty("system", out var system))
        {
            foreach (var text in Texts(system))
            {
                if (!text.StartsWith(BillingHeaderPrefix, StringComparison.Ordinal) && text.Length > 0)
                {
                    conversation.Instructions.Add(text);
                }
            }
        }

        if (root.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
        {
            foreach (var message in messages.EnumerateArray())
            {
                ReadMessage(message, conversation, seal);
            }
        }

        if (root.TryGetProperty("tools", out var toolList) && toolList.ValueKind == JsonValueKind.Array)
        {
            foreach (var tool in toolList.EnumerateArray())
            {
                var type = Str(tool, "type");
                if (type is null or "custom" && Str(tool, "name") is { } name)
                {
                    conversation.Tools.Add(new ToolSpec(name, Str(tool, "description"),
                        tool.TryGetProperty("input_schema", out var schema) && schema.ValueKind == JsonValueKind.Object ? schema.GetRawText() : null,
                        ToolKind.Function));
                }
                else
                {
                    conversation.Drop(type ?? "tool without a name");
                }
            }
        }

        if (root.TryGetProperty("tool_choice", out var choice) && choice.ValueKind == JsonValueKind.Object)
        {
            conversation.ToolChoice = Str(choice, "type") switch
            {
                "any" => ToolChoice.Required,
                "none" => ToolChoice.None,
                "tool" when Str(choice, "name") is { } named => new ToolChoice(ToolChoiceMode.Named, named),
                _ => ToolChoice.Auto,
            };
            if (choice.TryGetProperty("disable_parallel_tool_use", out var disable) && disable.ValueKind == JsonValueKind.True)
            {
                conversation.ParallelToolCalls = false;
            }
        }

        if (root.TryGetProperty("stop_sequences", out var stops) && stops.ValueKind == JsonValueKind.Array)
        {
            conversation.Stop.AddRange(stops.EnumerateArray().Where(s => s.ValueKind == JsonValueKind.String).Select(s => s.GetString()!));
        }

        conversation.Temperature = Number(root, "temperature");
        conversation.TopP = Number(root, "top_p");
        conversation.Effort = Effort(root);
        return (conversation, null, tools);
    }

    private static string? Effort(JsonElement root)
    {
        if (root.TryGetProperty("output_config", out var output) && Str(output, "effort") is { } effort)
        {
            return effort == "max" ? "xhigh" : effort;
        }

        if (!root.TryGetProperty("thinking", out var thinking) || thinking.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        return Str(thinking, "type") switch
        {
            "enabled" => thinking.TryGetProperty("budget_tokens", out var budget) && budget.TryGetInt64(out var tokens)
                ? tokens < 4000 ? "low" : tokens < 16000 ? "medium" : "high"
                : "medium",
            "adaptive" => "medium",
            "disabled" => "none",
            _ => null,
        };
    }

    private static void ReadMessage(JsonElement message, Conversation conversation, ReasoningSeal seal)
    {
        var role = Str(message, "role") switch
        {
            "assistant" => ItemRole.Assistant,
            "system" => ItemRole.System,
            _ => ItemRole.User,
        };
        if (!message.TryGetProperty("content", out var content))
        {
            return;
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            if (content.GetString() is { Length: > 0 } text)
            {
                conversation.Items.Add(new MessageItem(role, [new TextPart(text)]));
            }

            return;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        var parts = new List<ContentPart>();
        foreach (var block in content.EnumerateArray())
        {
            switch (Str(block, "type"))
            {
                case "text":
                    parts.Add(new TextPart(Str(block, "text") ?? ""));
                    break;
                case "image" when Image(block) is { } image:
                    parts.Add(image);
                    break;
                case "tool_use":
                    Flush(conversation, role, parts);
                    conversation.Items.Add(new ToolCallItem(Str(block, "id") ?? "", Str(block, "name") ?? "",
                        block.TryGetProperty("input", out var input) ? input.GetRawText() : "{}", ToolKind.Function));
                    break;
                case "tool_result":
                    Flush(conversation, role, parts);
                    var output = new List<ContentPart>();
                    if (block.TryGetProperty("content", out var result))
                    {
                        if (result.ValueKind == JsonValueKind.String)
                        {
                            output.Add(new TextPart(result.GetString()!));
                        }
                        else if (result.ValueKind == JsonValueKind.Array)
                        {
                            foreach (var inner in result.EnumerateArray())
                            {
                                if (Str(inner, "type") == "text")
                                {
                                    output.Add(new TextPart(Str(inner, "text") ?? ""));
                                }
                                else if (Str(inner, "type") == "image" && Image(inner) is { } resultImage)
                                {
                                    output.Add(resultImage);
                                }
                            }
                        }
                    }

                    var isError = block.TryGetProperty("is_error", out var error) && error.ValueKind == JsonValueKind.True;
                    conversation.Items.Add(new ToolResultItem(Str(block, "tool_use_id") ?? "", output, isError));
                    break;
                case "thinking":
                    Flush(conversation, role, parts);
                    conversation.Items.Add(new ReasoningItem(Str(block, "thinking") ?? "", seal.Open(Str(block, "signature"))));
                    break;
                case var other:
                    conversation.Drop(other ?? "block without a type");
                    break;
            }
        }

        Flush(conversation, role, parts);
    }

    private static void Flush(Conversation conversation, ItemRole role, List<ContentPart> parts)
    {
        parts.RemoveAll(part => part is TextPart { Text.Length: 0 });
        if (parts.Count > 0)
        {
            conversation.Items.Add(new MessageItem(role, [.. parts]));
            parts.Clear();
        }
    }

    private static ImagePart? Image(JsonElement block)
    {
        if (!block.TryGetProperty("source", out var source))
        {
            return null;
        }

        return Str(source, "type") switch
        {
            "base64" => new ImagePart($"data:{Str(source, "media_type") ?? "image/png"};base64,{Str(source, "data")}", null),
            "url" when Str(source, "url") is { } url => new ImagePart(url, null),
            _ => null,
        };
    }

    private static IEnumerable<string> Texts(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.String)
        {
            yield return value.GetString()!;
        }
        else if (value.ValueKind == JsonValueKind.Array)
        {
            foreach (var block in value.EnumerateArray())
            {
                if (Str(block, "text") is { } text)
                {
                    yield return text;
                }
            }
        }
    }
}
