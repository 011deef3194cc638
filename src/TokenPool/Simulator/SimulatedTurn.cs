using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace TokenPool.Simulator;

/// <summary>A tool call the simulated model makes: a function call, or a freeform (custom) tool call.</summary>
internal sealed record SimulatedToolCall(bool IsCustom, string Name, string Arguments, string CallId);

/// <summary>
/// What the simulated model answers to one request. It is deterministic and simple, but it behaves like
/// a coding model where clients can tell: asked to run a command, it calls the shell tool the client
/// offered (whatever its name and parameter shape); given the tool's output, it reports it; otherwise
/// it answers in text that says it is the simulator. With reasoning requested it adds a reasoning item
/// whose encrypted content only the same upstream key can read back, as a real upstream account does.
/// </summary>
internal sealed partial class SimulatedTurn
{
    private static readonly string[] ShellToolPreference = ["exec_command", "shell_command", "shell", "bash", "run_command", "terminal"];

    public required string Model { get; init; }

    public string? Text { get; init; }

    public SimulatedToolCall? ToolCall { get; init; }

    public string? ReasoningSummary { get; init; }

    public string? EncryptedReasoning { get; init; }

    public long InputTokens { get; init; }

    public long CachedTokens { get; init; }

    public long OutputTokens { get; init; }

    public long ReasoningTokens { get; init; }

    /// <summary>Set when the request carried reasoning another upstream key encrypted: answer 400 invalid_encrypted_content.</summary>
    public string? ForeignReasoningItem { get; init; }

    public static SimulatedTurn From(JsonObject request, bool isChat, SimulatorFaults faults, string keyFingerprint, Func<string, bool> seenCacheKey)
    {
        var model = (string?)request["model"] ?? "unknown";
        var items = isChat ? request["messages"] as JsonArray : request["input"] as JsonArray;
        var tools = request["tools"] as JsonArray;
        var lastUserText = LastUserText(request, isChat);

        string? foreign = null;
        if (!isChat && items is not null)
        {
            foreach (var item in items.OfType<JsonObject>())
            {
                if ((string?)item["type"] == "reasoning" && (string?)item["encrypted_content"] is { } encrypted && !SealedBy(encrypted, keyFingerprint))
                {
                    foreign = (string?)item["id"] ?? "rs_unknown";
                }
            }
        }

        var toolOutput = LastToolOutput(items, isChat);
        string? text = null;
        SimulatedToolCall? call = null;
        if (faults.Tool is not null)
        {
            call = CallTool(tools, isChat, faults.Tool, faults.Command ?? "echo simulated");
        }
        else if (toolOutput is not null)
        {
            text = faults.Text ?? $"The command ran. Its output was:\n{Trim(toolOutput, 600)}";
        }
        else if (lastUserText is not null && CommandIn(lastUserText) is { } command && ShellTool(tools, isChat) is { } shell)
        {
            call = CallTool(tools, isChat, shell, command);
        }

        if (call is null && text is null)
        {
            var said = lastUserText is null ? "" : StripDirective(lastUserText);
            text = faults.Text ?? $"Hello from the TokenPool simulated upstream (not a real model). You said: {Trim(said, 200)}";
        }

        var wantsReasoning = !isChat && request["reasoning"] is JsonObject reasoning && (string?)reasoning["effort"] != "none";
        var inputTokens = Tokens(isChat ? request["messages"]?.ToJsonString() : request["input"]?.ToJsonString())
            + Tokens((string?)request["instructions"]) + Tokens(tools?.ToJsonString());
        var cacheKey = (string?)request["prompt_cache_key"];
        var cached = cacheKey is not null && seenCacheKey(cacheKey) ? inputTokens * 3 / 4 / 64 * 64 : 0;
        var reasoningTokens = wantsReasoning ? 12L : 0L;
        var outputTokens = Tokens(text ?? call!.Arguments) + reasoningTokens;

        if (faults.Usage is { } usage)
        {
            (inputTokens, outputTokens, cached, reasoningTokens) = usage;
        }

        return new SimulatedTurn
        {
            Model = model,
            Text = text,
            ToolCall = call,
            ReasoningSummary = wantsReasoning ? "**Planning** the reply" : null,
            EncryptedReasoning = wantsReasoning ? "gAAAAB" + Convert.ToBase64String(Encoding.UTF8.GetBytes($"tp-sim|{keyFingerprint}|{Guid.NewGuid():N}")) : null,
            InputTokens = Math.Max(1, inputTokens),
            CachedTokens = cached,
            OutputTokens = outputTokens,
            ReasoningTokens = reasoningTokens,
            ForeignReasoningItem = foreign,
        };
    }

    /// <summary>True when the encrypted reasoning was made under the key with this fingerprint.</summary>
    private static bool SealedBy(string encrypted, string keyFingerprint)
    {
        try
        {
            var plain = Encoding.UTF8.GetString(Convert.FromBase64String(encrypted.StartsWith("gAAAAB", StringComparison.Ordinal) ? encrypted[6..] : encrypted));
            return plain.StartsWith($"tp-sim|{keyFingerprint}|", StringComparison.Ordinal);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>A short, stable fingerprint of the upstream key, embedded in encrypted reasoning.</summary>
    public static string Fingerprint(string? apiKey) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey ?? "")))[..12];

    /// <summary>Roughly four characters per token, like real tokenizers on English and code.</summary>
    public static long Tokens(string? text) => string.IsNullOrEmpty(text) ? 0 : (Encoding.UTF8.GetByteCount(text) + 3) / 4;

    /// <summary>The text of the last user message (or the plain-string input).</summary>
    internal static string? LastUserText(JsonObject request, bool isChat)
    {
        var items = isChat ? request["messages"] as JsonArray : request["input"] as JsonArray;
        if (!isChat && request["input"] is JsonValue single && single.TryGetValue<string>(out var plain))
        {
            return plain;
        }

        if (items is null)
        {
            return null;
        }

        for (var i = items.Count - 1; i >= 0; i--)
        {
            if (items[i] is JsonObject item && (string?)item["role"] == "user")
            {
                return ContentText(item["content"]);
            }
        }

        return null;
    }

    private static string? LastToolOutput(JsonArray? items, bool isChat)
    {
        if (items is null || items.Count == 0 || items[^1] is not JsonObject last)
        {
            return null;
        }

        if (isChat)
        {
            return (string?)last["role"] == "tool" ? ContentText(last["content"]) ?? "" : null;
        }

        return (string?)last["type"] is "function_call_output" or "custom_tool_call_output" ? ContentText(last["output"]) ?? "" : null;
    }

    private static string? ContentText(JsonNode? content) => content switch
    {
        JsonValue value when value.TryGetValue<string>(out var text) => text,
        JsonArray parts => string.Join("\n", parts.OfType<JsonObject>().Select(p => (string?)p["text"]).Where(t => t is not null)),
        _ => null,
    };

    /// <summary>A command the prompt asks to run: <c>run `echo hi`</c>, <c>run: echo hi</c>, <c>run echo hi</c>.</summary>
    internal static string? CommandIn(string text)
    {
        text = StripDirective(text);
        var quoted = QuotedCommand().Match(text);
        if (quoted.Success)
        {
            return quoted.Groups[1].Value.Trim();
        }

        var plain = PlainCommand().Match(text);
        return plain.Success ? plain.Groups[1].Value.Trim().Trim('"', '\'', '.') : null;
    }

    private static string? ShellTool(JsonArray? tools, bool isChat)
    {
        var candidates = (tools ?? []).OfType<JsonObject>()
            .Select(t => isChat ? t["function"] as JsonObject : t)
            .Where(t => t is not null && (isChat || (string?)t["type"] == "function"))
            .Select(t => (Name: (string?)t!["name"], Parameters: t["parameters"] as JsonObject))
            .Where(t => t.Name is not null && ArgumentsFor(t.Parameters, "x") is not null)
            .ToList();
        foreach (var preferred in ShellToolPreference)
        {
            if (candidates.Any(c => c.Name == preferred))
            {
                return preferred;
            }
        }

        return candidates.FirstOrDefault().Name;
    }

    private static SimulatedToolCall CallTool(JsonArray? tools, bool isChat, string name, string command)
    {
        var tool = (tools ?? []).OfType<JsonObject>().FirstOrDefault(t => (string?)(isChat ? t["function"]?["name"] : t["name"]) == name);
        var isCustom = !isChat && tool is not null && (string?)tool["type"] == "custom";
        var parameters = (isChat ? tool?["function"]?["parameters"] : tool?["parameters"]) as JsonObject;
        var arguments = isCustom ? command : ArgumentsFor(parameters, command) ?? JsonSerializer.Serialize(new { command });
        return new SimulatedToolCall(isCustom, name, arguments, "call_" + Guid.NewGuid().ToString("N")[..24]);
    }

    /// <summary>Arguments that run <paramref name="command"/> with a tool of this parameter shape, or null if it is not a shell tool.</summary>
    private static string? ArgumentsFor(JsonObject? parameters, string command)
    {
        if (parameters?["properties"] is not JsonObject properties)
        {
            return null;
        }

        if (properties["cmd"] is not null)
        {
            return new JsonObject { ["cmd"] = command }.ToJsonString();
        }

        if (properties["command"] is JsonObject commandSchema)
        {
            var arguments = (string?)commandSchema["type"] == "array"
                ? new JsonObject { ["command"] = new JsonArray("bash", "-lc", command) }
                : new JsonObject { ["command"] = command };
            if (properties["description"] is not null)
            {
                arguments["description"] = "Run the requested command";
            }

            return arguments.ToJsonString();
        }

        return null;
    }

    private static string StripDirective(string text) => DirectiveText().Replace(text, "").Trim();

    private static string Trim(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    [GeneratedRegex(@"\b(?:run|execute)\b[^`]*`([^`]+)`", RegexOptions.IgnoreCase)]
    private static partial Regex QuotedCommand();

    [GeneratedRegex(@"^\W*(?:please\s+)?(?:run|execute)(?:\s+the\s+command)?:?\s+(.+)$", RegexOptions.IgnoreCase | RegexOptions.Multiline)]
    private static partial Regex PlainCommand();

    [GeneratedRegex(@"\[\[sim:.*?\]\]", RegexOptions.Singleline)]
    private static partial Regex DirectiveText();
}
