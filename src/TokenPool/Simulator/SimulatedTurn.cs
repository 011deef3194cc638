using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace TokenPool.Simulator;

/// <summary>
/// What the simulated model answers to one request. It is deterministic and simple, but it behaves like
/// a coding model where clients can tell: asked to run a command, it calls the shell tool the client
/// offered (whatever its name and parameter shape); given the tool's output, it reports it; in agent mode
/// it carries out <see cref="AgentScript"/>; otherwise it answers in text that says it is the simulator.
/// With reasoning requested it reasons, sealed (encrypted content, a thinking signature) so that only
/// the same upstream key can send it back, as a real upstream account does. It honours the output
/// limit as the chosen flavour reads it, and counts usage from the request (see <see cref="Usage"/>).
/// </summary>
internal sealed partial class SimulatedTurn
{
    private const string SealPrefix = "tp-sim|";

    public required string Model { get; init; }

    /// <summary>Answer text; with a <see cref="ToolCall"/>, the preamble before it.</summary>
    public string? Text { get; init; }

    /// <summary>The first (usually only) tool call.</summary>
    public SimulatedToolCall? ToolCall => ToolCalls.Count > 0 ? ToolCalls[0] : null;

    /// <summary>The tool calls, in order (several under <c>parallel=N</c>).</summary>
    public IReadOnlyList<SimulatedToolCall> ToolCalls { get; init; } = [];

    /// <summary>The model's reasoning, streamed by the Chat flavours that show it and in Anthropic thinking blocks.</summary>
    public string? ReasoningText { get; init; }

    /// <summary>The reasoning summary a Responses stream shows.</summary>
    public string? ReasoningSummary { get; init; }

    /// <summary>Encrypted reasoning content or thinking signature, readable only under the same upstream key.</summary>
    public string? Seal { get; init; }

    public required SimulatedUsage Usage { get; init; }

    /// <summary>The caller's stop sequence the answer ended at, if any.</summary>
    public string? StopSequence { get; init; }

    /// <summary>True when the answer stopped at the output limit.</summary>
    public bool Truncated { get; init; }

    public bool HasReasoning => ReasoningText is not null;

    /// <summary>Decides the answer to <paramref name="conversation"/>.</summary>
    /// <param name="conversation">The request.</param>
    /// <param name="faults">What the request asked of the simulator.</param>
    /// <param name="fingerprint">The upstream key's fingerprint (seals reasoning).</param>
    /// <param name="cache">Cached and cache-written input tokens for this prompt.</param>
    /// <param name="storedTokens">Tokens of a stored conversation this request continues (<c>previous_response_id</c>).</param>
    /// <param name="newCallId">Makes a tool-call id in the flavour's format.</param>
    public static SimulatedTurn From(Conversation conversation, SimulatorFaults faults, string fingerprint, (long Cached, long Write5m, long Write1h) cache, long storedTokens, Func<string> newCallId)
    {
        var tools = conversation.Tools;
        var task = conversation.TaskText;
        string? text = null;
        SimulatedToolCall? call = null;
        if (faults.Tool is not null)
        {
            call = CallNamed(tools, faults.Tool, faults.Command ?? "echo simulated", newCallId());
        }
        else if (faults.Agent)
        {
            (text, call) = AgentScript.Next(conversation, faults, newCallId);
        }
        else if (LastToolOutput(conversation) is { } output)
        {
            text = faults.Text ?? $"The command ran. Its output was:\n{Trim(AgentScript.CommandOutput(output), 600)}";
        }
        else if (task is not null && CommandIn(task) is { } command && ClientTools.Shell(tools) is { } shell)
        {
            call = new SimulatedToolCall(false, shell.Name, ClientTools.ShellArguments(shell, command)!, newCallId());
        }

        if (call is null && text is null)
        {
            text = faults.Text ?? $"Hello from the TokenPool simulated upstream (not a real model). You said: {Trim(task is null ? "" : StripDirective(task), 200)}";
        }

        if (faults.Fill is { } fill && call is null)
        {
            text = Filler(fill > 0 ? fill : Limit(conversation, faults) ?? 4096);
        }

        string? stopSequence = null;
        if (text is not null && call is null)
        {
            foreach (var stop in conversation.StopSequences)
            {
                var at = text.IndexOf(stop, StringComparison.Ordinal);
                if (at >= 0)
                {
                    text = text[..at];
                    stopSequence = stop;
                }
            }
        }

        string? reasoning = null;
        if (conversation.WantsReasoning)
        {
            reasoning = $"The user asked: {Trim(task is null ? "" : StripDirective(task), 120)}. " +
                (call is null ? "I can answer directly." : $"I will call {call.Name} to make progress.");
        }

        var calls = call is null ? [] : new List<SimulatedToolCall> { call };
        for (var i = 1; call is not null && i < (faults.Parallel ?? 1); i++)
        {
            calls.Add(call with { CallId = newCallId() });
        }

        var reasoningTokens = Tokens(reasoning);
        var outputTokens = reasoningTokens + Tokens(text) + calls.Sum(c => Tokens(c.Arguments));
        var truncated = faults.Incomplete;
        if (Limit(conversation, faults) is { } limit && outputTokens > limit)
        {
            truncated = true;
            var room = Math.Max(0, limit - reasoningTokens);
            if (call is null && text is not null)
            {
                text = Cut(text, room);
            }

            outputTokens = Math.Min(outputTokens, Math.Max(limit, reasoningTokens));
        }

        var input = Math.Max(1, conversation.Segments.Sum(s => s.Tokens) + storedTokens);
        var usage = new SimulatedUsage(input, Math.Min(cache.Cached, input), outputTokens, reasoningTokens,
            Math.Min(cache.Write5m, input), Math.Min(cache.Write1h, input));
        if (faults.Usage is { } fixedUsage)
        {
            usage = new SimulatedUsage(fixedUsage.Input, fixedUsage.Cached, fixedUsage.Output, fixedUsage.Reasoning, fixedUsage.CacheWrite5m, fixedUsage.CacheWrite1h);
        }

        return new SimulatedTurn
        {
            Model = conversation.Model,
            Text = text,
            ToolCalls = calls,
            ReasoningText = reasoning,
            ReasoningSummary = reasoning is null ? null : "**Planning** the reply",
            Seal = reasoning is null ? null : NewSeal(fingerprint),
            Usage = usage,
            Truncated = truncated,
            StopSequence = stopSequence,
        };
    }

    /// <summary>
    /// The output limit the upstream honours: Responses <c>max_output_tokens</c>, Messages <c>max_tokens</c>, Chat
    /// <c>max_completion_tokens</c> ahead of the older <c>max_tokens</c> (or the larger of the two, vLLM-style, under
    /// <c>larger_limit</c>); none under <c>ignore_limit</c>.
    /// </summary>
    public static long? Limit(Conversation conversation, SimulatorFaults faults)
    {
        if (faults.IgnoreLimit || conversation.Limits.Count == 0)
        {
            return null;
        }

        if (faults.LargerLimit)
        {
            return conversation.Limits.Values.Max();
        }

        foreach (var field in new[] { "max_output_tokens", "max_completion_tokens", "max_tokens" })
        {
            if (conversation.Limits.TryGetValue(field, out var limit))
            {
                return limit;
            }
        }

        return null;
    }

    /// <summary>A new seal (encrypted reasoning or signature) for this key.</summary>
    public static string NewSeal(string fingerprint) =>
        "gAAAAB" + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{SealPrefix}{fingerprint}|{Guid.NewGuid():N}"));

    /// <summary>True when the seal was made under the key with this fingerprint.</summary>
    public static bool SealedBy(string? seal, string fingerprint)
    {
        if (string.IsNullOrEmpty(seal))
        {
            return false;
        }

        try
        {
            var plain = Encoding.UTF8.GetString(Convert.FromBase64String(seal.StartsWith("gAAAAB", StringComparison.Ordinal) ? seal[6..] : seal));
            return plain.StartsWith($"{SealPrefix}{fingerprint}|", StringComparison.Ordinal);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>A short, stable fingerprint of the upstream key, embedded in seals and cache keys.</summary>
    public static string Fingerprint(string? apiKey) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey ?? "")))[..12];

    /// <summary>Roughly four bytes per token, like real tokenizers on English and code.</summary>
    public static long Tokens(string? text) => string.IsNullOrEmpty(text) ? 0 : (Encoding.UTF8.GetByteCount(text) + 3) / 4;

    /// <summary>Text of exactly <paramref name="tokens"/> tokens (four bytes each).</summary>
    internal static string Filler(long tokens)
    {
        const string words = "The simulated upstream keeps writing to fill the output limit. ";
        var length = (int)Math.Min(tokens * 4, 64L * 1024 * 1024);
        var builder = new StringBuilder(length);
        while (builder.Length < length)
        {
            builder.Append(words, 0, Math.Min(words.Length, length - builder.Length));
        }

        return builder.ToString();
    }

    /// <summary>The output of the tool call the conversation ends with (reminders after it aside), or null.</summary>
    private static string? LastToolOutput(Conversation conversation)
    {
        for (var i = conversation.Parts.Count - 1; i >= 0; i--)
        {
            var part = conversation.Parts[i];
            if (part.Kind == PartKind.ToolResult)
            {
                return part.Text;
            }

            if (part.Kind != PartKind.Text || !part.Text.StartsWith("<system-reminder>", StringComparison.Ordinal))
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>A call of the named tool with <paramref name="command"/>; the tool need not be offered.</summary>
    private static SimulatedToolCall CallNamed(IReadOnlyList<SimulatedTool> tools, string name, string command, string callId)
    {
        var tool = tools.FirstOrDefault(t => t.Name == name);
        if (tool is { IsCustom: true })
        {
            return new SimulatedToolCall(true, name, command, callId);
        }

        var arguments = (tool is null ? null : ClientTools.ShellArguments(tool, command)) ?? new System.Text.Json.Nodes.JsonObject { ["command"] = command }.ToJsonString();
        return new SimulatedToolCall(false, name, arguments, callId);
    }

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

    private static string Cut(string text, long tokens)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var length = (int)Math.Min(bytes.Length, tokens * 4);
        while (length > 0 && length < bytes.Length && (bytes[length] & 0xC0) == 0x80)
        {
            length--;
        }

        return Encoding.UTF8.GetString(bytes, 0, length);
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
