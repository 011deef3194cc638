using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;
using static TokenPool.Gateway.Translation.Responses.ResponsesRequestReader;

namespace TokenPool.Gateway.Translation.Chat;

/// <summary>
/// Reads a Chat Completions request (OpenCode's OpenAI-compatible provider, the OpenAI SDKs, scripts; protocols §2.4, §3)
/// into a <see cref="Conversation"/>.
/// <list type="bullet">
/// <item><c>system</c>/<c>developer</c> messages → system items; <c>user</c> text and <c>image_url</c> parts (audio and
/// files are left out); <c>assistant</c> content, <c>reasoning_content</c>/<c>reasoning</c> (shown text only: a Chat
/// client carries no seal) and <c>tool_calls</c>; <c>tool</c> messages → results.</item>
/// <item>Function tools (and Chat's <c>custom</c> tools as free-form tools); <c>tool_choice</c>, <c>parallel_tool_calls</c>,
/// <c>temperature</c>, <c>top_p</c>, <c>stop</c>, <c>reasoning_effort</c>, <c>response_format</c>. The output limit is
/// the gateway's; <c>n</c> above 1 is refused (no other API answers several choices).</item>
/// </list>
/// </summary>
internal static class ChatRequestReader
{
    public static (Conversation? Conversation, ApiError? Error, Dictionary<string, ToolOrigin> Tools) Read(JsonElement root, ReasoningSeal seal)
    {
        _ = seal;
        var conversation = new Conversation();
        var tools = new Dictionary<string, ToolOrigin>(StringComparer.Ordinal);
        if (root.TryGetProperty("n", out var n) && n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out var choices) && choices > 1)
        {
            return (null, GatewayErrors.InvalidParameter("n", "This model's upstream answers one choice per request, so \"n\" must be 1. Send several requests instead."), tools);
        }

        if (root.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Array)
        {
            foreach (var message in messages.EnumerateArray())
            {
                ReadMessage(message, conversation);
            }
        }

        if (root.TryGetProperty("tools", out var toolList) && toolList.ValueKind == JsonValueKind.Array)
        {
            foreach (var tool in toolList.EnumerateArray())
            {
                var type = Str(tool, "type");
                if (type == "function" && tool.TryGetProperty("function", out var function) && Str(function, "name") is { } name)
                {
                    conversation.Tools.Add(new ToolSpec(name, Str(function, "description"),
                        function.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object ? parameters.GetRawText() : null,
                        ToolKind.Function)
                    {
                        Strict = function.TryGetProperty("strict", out var strict) && strict.ValueKind is JsonValueKind.True or JsonValueKind.False ? strict.GetBoolean() : null,
                    });
                }
                else if (type == "custom" && tool.TryGetProperty("custom", out var custom) && Str(custom, "name") is { } customName)
                {
                    tools[customName] = new ToolOrigin(ToolKind.Custom, null, customName);
                    conversation.Tools.Add(new ToolSpec(customName, Str(custom, "description"), null, ToolKind.Custom));
                }
                else
                {
                    conversation.Drop(type ?? "tool without a type");
                }
            }
        }

        if (root.TryGetProperty("tool_choice", out var choice))
        {
            conversation.ToolChoice = choice.ValueKind switch
            {
                JsonValueKind.String => choice.GetString() switch
                {
                    "none" => ToolChoice.None,
                    "required" => ToolChoice.Required,
                    _ => ToolChoice.Auto,
                },
                JsonValueKind.Object when choice.TryGetProperty("function", out var f) && Str(f, "name") is { } named => new ToolChoice(ToolChoiceMode.Named, named),
                JsonValueKind.Object when choice.TryGetProperty("custom", out var c) && Str(c, "name") is { } named => new ToolChoice(ToolChoiceMode.Named, named),
                _ => ToolChoice.Auto,
            };
        }

        if (root.TryGetProperty("parallel_tool_calls", out var parallel) && parallel.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            conversation.ParallelToolCalls = parallel.GetBoolean();
        }

        conversation.Temperature = Number(root, "temperature");
        conversation.TopP = Number(root, "top_p");
        if (root.TryGetProperty("stop", out var stop))
        {
            if (stop.ValueKind == JsonValueKind.String)
            {
                conversation.Stop.Add(stop.GetString()!);
            }
            else if (stop.ValueKind == JsonValueKind.Array)
            {
                conversation.Stop.AddRange(stop.EnumerateArray().Where(s => s.ValueKind == JsonValueKind.String).Select(s => s.GetString()!));
            }
        }

        conversation.Effort = Str(root, "reasoning_effort");
        if (root.TryGetProperty("response_format", out var format) && format.ValueKind == JsonValueKind.Object)
        {
            var type = Str(format, "type");
            if (type == "json_object")
            {
                conversation.Format = new OutputFormat(type, null, null, null);
            }
            else if (type == "json_schema" && format.TryGetProperty("json_schema", out var schema) && schema.ValueKind == JsonValueKind.Object)
            {
                conversation.Format = new OutputFormat(type, Str(schema, "name"),
                    schema.TryGetProperty("schema", out var s) ? s.GetRawText() : null,
                    schema.TryGetProperty("strict", out var strict) && strict.ValueKind is JsonValueKind.True or JsonValueKind.False ? strict.GetBoolean() : null);
            }
        }

        return (conversation, null, tools);
    }

    private static void ReadMessage(JsonElement message, Conversation conversation)
    {
        var role = Str(message, "role");
        var content = message.TryGetProperty("content", out var c) ? ReadContent(c) : [];
        switch (role)
        {
            case "system" or "developer":
                if (content.Count > 0)
                {
                    conversation.Items.Add(new MessageItem(ItemRole.System, content));
                }

                break;
            case "assistant":
                var reasoning = Str(message, "reasoning_content") ?? Str(message, "reasoning");
                if (reasoning is { Length: > 0 })
                {
                    conversation.Items.Add(new ReasoningItem(reasoning, null));
                }

                if (content.Count > 0)
                {
                    conversation.Items.Add(new MessageItem(ItemRole.Assistant, content));
                }

                if (message.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
                {
                    foreach (var call in calls.EnumerateArray())
                    {
                        if (call.TryGetProperty("function", out var function))
                        {
                            conversation.Items.Add(new ToolCallItem(Str(call, "id") ?? "", Str(function, "name") ?? "", Str(function, "arguments") ?? "{}", ToolKind.Function));
                        }
                        else if (call.TryGetProperty("custom", out var custom))
                        {
                            conversation.Items.Add(new ToolCallItem(Str(call, "id") ?? "", Str(custom, "name") ?? "", Str(custom, "input") ?? "", ToolKind.Custom));
                        }
                    }
                }

                break;
            case "tool":
                conversation.Items.Add(new ToolResultItem(Str(message, "tool_call_id") ?? "", content, false));
                break;
            case "user":
                if (content.Count > 0)
                {
                    conversation.Items.Add(new MessageItem(ItemRole.User, content));
                }

                break;
            default:
                conversation.Drop($"{role ?? "unknown"} message");
                break;
        }
    }

    private static List<ContentPart> ReadContent(JsonElement content)
    {
        var parts = new List<ContentPart>();
        if (content.ValueKind == JsonValueKind.String)
        {
            if (content.GetString() is { Length: > 0 } text)
            {
                parts.Add(new TextPart(text));
            }

            return parts;
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            return parts;
        }

        foreach (var part in content.EnumerateArray())
        {
            switch (Str(part, "type"))
            {
                case "text":
                    parts.Add(new TextPart(Str(part, "text") ?? ""));
                    break;
                case "refusal":
                    parts.Add(new TextPart(Str(part, "refusal") ?? ""));
                    break;
                case "image_url":
                    if (part.TryGetProperty("image_url", out var image))
                    {
                        var url = image.ValueKind == JsonValueKind.String ? image.GetString() : Str(image, "url");
                        if (url is not null)
                        {
                            parts.Add(new ImagePart(url, Str(image, "detail")));
                        }
                    }

                    break;
            }
        }

        return parts;
    }
}
