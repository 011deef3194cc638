using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Responses;

/// <summary>
/// Reads a Responses API request (Codex, OpenCode's <c>openai</c> provider; protocols §1.4, §1.5, §2.4, §8.2, §8.3) into a <see cref="Conversation"/>.
/// <list type="bullet">
/// <item><c>instructions</c> → instructions; <c>developer</c>/<c>system</c> messages → system items in place.</item>
/// <item>Messages with string or part content (<c>input_text</c>, <c>output_text</c>, <c>input_image</c>; files are left out).</item>
/// <item><c>function_call</c> (its <c>namespace</c> flattened), <c>custom_tool_call</c>, <c>tool_search_call</c> → calls;
/// their <c>*_output</c> items → results.</item>
/// <item><c>reasoning</c> → its summary text, and what the upstream needs back if its <c>encrypted_content</c> is an intact
/// TokenPool seal (anything else, such as OpenAI's own blobs, is dropped).</item>
/// <item>Tools: <c>function</c>; <c>namespace</c> children flattened (<see cref="ToolNames"/>); <c>custom</c> (free-form, with
/// its grammar); <c>tool_search</c> with client execution as a function. Hosted tools (<c>web_search</c>, <c>file_search</c>,
/// <c>code_interpreter</c>, <c>image_generation</c>, <c>mcp</c>, <c>computer_use</c>, <c>local_shell</c>…) have no
/// equivalent on other APIs and are left out.</item>
/// <item><c>tool_choice</c>, <c>parallel_tool_calls</c>, <c>temperature</c>, <c>top_p</c>, <c>reasoning.effort</c>,
/// <c>text.format</c>. Not carried: <c>store</c>, <c>include</c>, <c>prompt_cache_key</c>, <c>client_metadata</c>,
/// <c>text.verbosity</c>, <c>service_tier</c>, <c>truncation</c>, <c>metadata</c>, <c>user</c>; the output limit is the gateway's.</item>
/// </list>
/// </summary>
internal static class ResponsesRequestReader
{
    public static (Conversation? Conversation, ApiError? Error, Dictionary<string, ToolOrigin> Tools) Read(JsonElement root, ReasoningSeal seal)
    {
        var conversation = new Conversation();
        var tools = new Dictionary<string, ToolOrigin>(StringComparer.Ordinal);
        if (root.TryGetProperty("previous_response_id", out var previous) && previous.ValueKind == JsonValueKind.String)
        {
            return (null, GatewayErrors.InvalidParameter("previous_response_id",
                "This model's upstream does not keep earlier responses, so \"previous_response_id\" cannot be used with it. "
                + "Send the whole conversation in \"input\" instead (Codex and OpenCode already do)."), tools);
        }

        if (root.TryGetProperty("instructions", out var instructions) && instructions.ValueKind == JsonValueKind.String
            && instructions.GetString() is { Length: > 0 } text)
        {
            conversation.Instructions.Add(text);
        }

        if (root.TryGetProperty("input", out var input))
        {
            if (input.ValueKind == JsonValueKind.String)
            {
                conversation.Items.Add(new MessageItem(ItemRole.User, [new TextPart(input.GetString()!)]));
            }
            else if (input.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in input.EnumerateArray())
                {
                    ReadItem(item, conversation, seal, tools);
                }
            }
        }

        if (root.TryGetProperty("tools", out var toolList) && toolList.ValueKind == JsonValueKind.Array)
        {
            foreach (var tool in toolList.EnumerateArray())
            {
                ReadTool(tool, null, conversation, tools);
            }
        }

        conversation.ToolChoice = ReadToolChoice(root);
        if (root.TryGetProperty("parallel_tool_calls", out var parallel) && parallel.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            conversation.ParallelToolCalls = parallel.GetBoolean();
        }

        conversation.Temperature = Number(root, "temperature");
        conversation.TopP = Number(root, "top_p");
        if (root.TryGetProperty("reasoning", out var reasoning) && reasoning.ValueKind == JsonValueKind.Object
            && reasoning.TryGetProperty("effort", out var effort) && effort.ValueKind == JsonValueKind.String)
        {
            conversation.Effort = effort.GetString();
        }

        if (root.TryGetProperty("text", out var textOptions) && textOptions.ValueKind == JsonValueKind.Object
            && textOptions.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.Object)
        {
            var type = Str(format, "type");
            if (type is "json_schema" or "json_object")
            {
                conversation.Format = new OutputFormat(type, Str(format, "name"),
                    format.TryGetProperty("schema", out var schema) ? schema.GetRawText() : null,
                    format.TryGetProperty("strict", out var strict) && strict.ValueKind is JsonValueKind.True or JsonValueKind.False ? strict.GetBoolean() : null);
            }
        }

        return (conversation, null, tools);
    }

    private static void ReadItem(JsonElement item, Conversation conversation, ReasoningSeal seal, Dictionary<string, ToolOrigin> tools)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        var type = Str(item, "type") ?? (item.TryGetProperty("role", out _) ? "message" : null);
        switch (type)
        {
            case "message":
                var role = Str(item, "role") switch
                {
                    "assistant" => ItemRole.Assistant,
                    "system" or "developer" => ItemRole.System,
                    _ => ItemRole.User,
                };
                var content = item.TryGetProperty("content", out var c) ? ReadContent(c) : [];
                if (content.Count > 0)
                {
                    conversation.Items.Add(new MessageItem(role, content));
                }

                break;
            case "function_call":
                var name = Str(item, "name") ?? "";
                var ns = Str(item, "namespace");
                conversation.Items.Add(new ToolCallItem(Str(item, "call_id") ?? "", ns is null ? name : ToolNames.Flatten(ns, name), Str(item, "arguments") ?? "{}", ToolKind.Function));
                break;
            case "custom_tool_call":
                conversation.Items.Add(new ToolCallItem(Str(item, "call_id") ?? "", Str(item, "name") ?? "", Str(item, "input") ?? "", ToolKind.Custom));
                break;
            case "tool_search_call":
                var arguments = item.TryGetProperty("arguments", out var a) ? (a.ValueKind == JsonValueKind.String ? a.GetString()! : a.GetRawText()) : "{}";
                conversation.Items.Add(new ToolCallItem(Str(item, "call_id") ?? "", "tool_search", arguments, ToolKind.ToolSearch));
                break;
            case "function_call_output" or "custom_tool_call_output":
                var output = item.TryGetProperty("output", out var o) ? ReadContent(o) : [];
                conversation.Items.Add(new ToolResultItem(Str(item, "call_id") ?? "", output, false));
                break;
            case "tool_search_output":
                // The tools the search found become callable, and the call gets their list as its result.
                var found = new List<string>();
                if (item.TryGetProperty("tools", out var foundTools) && foundTools.ValueKind == JsonValueKind.Array)
                {
                    foreach (var tool in foundTools.EnumerateArray())
                    {
                        var before = conversation.Tools.Count;
                        ReadTool(tool, null, conversation, tools);
                        for (var i = before; i < conversation.Tools.Count; i++)
                        {
                            found.Add(conversation.Tools[i].Name);
                        }
                    }
                }

                conversation.Items.Add(new ToolResultItem(Str(item, "call_id") ?? "",
                    [new TextPart(found.Count == 0 ? "No tools found." : "Tools now available: " + string.Join(", ", found) + ".")], false));
                break;
            case "reasoning":
                var summary = new List<string>();
                if (item.TryGetProperty("summary", out var parts) && parts.ValueKind == JsonValueKind.Array)
                {
                    foreach (var part in parts.EnumerateArray())
                    {
                        if (Str(part, "text") is { } partText)
                        {
                            summary.Add(partText);
                        }
                    }
                }

                var carry = seal.Open(Str(item, "encrypted_content"));
                conversation.Items.Add(new ReasoningItem(string.Join("\n\n", summary), carry));
                break;
            default:
                conversation.Drop(type ?? "item without a type");
                break;
        }
    }

    private static List<ContentPart> ReadContent(JsonElement content)
    {
        var parts = new List<ContentPart>();
        if (content.ValueKind == JsonValueKind.String)
        {
            parts.Add(new TextPart(content.GetString()!));
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
                case "input_text" or "output_text" or "text" or "summary_text" or "reasoning_text":
                    parts.Add(new TextPart(Str(part, "text") ?? ""));
                    break;
                case "refusal":
                    parts.Add(new TextPart(Str(part, "refusal") ?? ""));
                    break;
                case "input_image":
                    var url = part.TryGetProperty("image_url", out var imageUrl)
                        ? imageUrl.ValueKind == JsonValueKind.String ? imageUrl.GetString() : Str(imageUrl, "url")
                        : null;
                    if (url is not null)
                    {
                        parts.Add(new ImagePart(url, Str(part, "detail")));
                    }

                    break;
            }
        }

        return parts;
    }

    private static void ReadTool(JsonElement tool, string? ns, Conversation conversation, Dictionary<string, ToolOrigin> tools)
    {
        switch (Str(tool, "type"))
        {
            case "function":
                var name = Str(tool, "name") ?? Str(tool.TryGetProperty("function", out var f) ? f : tool, "name");
                if (name is null)
                {
                    return;
                }

                var flat = ToolNames.Flatten(ns, name);
                if (flat != name || ns is not null)
                {
                    tools[flat] = new ToolOrigin(ToolKind.Function, ns, name);
                }

                conversation.Tools.Add(new ToolSpec(flat, Str(tool, "description"),
                    tool.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object ? parameters.GetRawText() : null,
                    ToolKind.Function)
                {
                    Strict = tool.TryGetProperty("strict", out var strict) && strict.ValueKind is JsonValueKind.True or JsonValueKind.False ? strict.GetBoolean() : null,
                });
                break;
            case "namespace":
                var space = Str(tool, "name");
                if (space is not null && tool.TryGetProperty("tools", out var children) && children.ValueKind == JsonValueKind.Array)
                {
                    foreach (var child in children.EnumerateArray())
                    {
                        ReadTool(child, space, conversation, tools);
                    }
                }

                break;
            case "custom":
                var customName = Str(tool, "name");
                if (customName is null)
                {
                    return;
                }

                var description = Str(tool, "description") ?? "";
                if (tool.TryGetProperty("format", out var format) && format.ValueKind == JsonValueKind.Object && Str(format, "type") == "grammar")
                {
                    description += $"\n\nThe input must follow this {Str(format, "syntax") ?? "lark"} grammar:\n{Str(format, "definition")}";
                }

                var customFlat = ToolNames.Flatten(ns, customName);
                tools[customFlat] = new ToolOrigin(ToolKind.Custom, ns, customName);
                conversation.Tools.Add(new ToolSpec(customFlat, description, null, ToolKind.Custom));
                break;
            case "tool_search":
                if (Str(tool, "execution") is "server")
                {
                    conversation.Drop("tool_search (server)");
                    return;
                }

                tools["tool_search"] = new ToolOrigin(ToolKind.ToolSearch, null, "tool_search");
                conversation.Tools.Add(new ToolSpec("tool_search", Str(tool, "description") ?? "Searches for more tools by what they do.",
                    tool.TryGetProperty("parameters", out var searchParameters) && searchParameters.ValueKind == JsonValueKind.Object
                        ? searchParameters.GetRawText()
                        : """{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"number"}},"required":["query"]}""",
                    ToolKind.ToolSearch));
                break;
            case var other:
                conversation.Drop(other ?? "tool without a type");
                break;
        }
    }

    private static ToolChoice? ReadToolChoice(JsonElement root)
    {
        if (!root.TryGetProperty("tool_choice", out var choice))
        {
            return null;
        }

        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() switch
            {
                "none" => ToolChoice.None,
                "required" => ToolChoice.Required,
                _ => ToolChoice.Auto,
            };
        }

        if (choice.ValueKind == JsonValueKind.Object && Str(choice, "type") is "function" or "custom" && Str(choice, "name") is { } name)
        {
            return new ToolChoice(ToolChoiceMode.Named, name);
        }

        return ToolChoice.Auto;
    }

    internal static string? Str(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    internal static double? Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}
