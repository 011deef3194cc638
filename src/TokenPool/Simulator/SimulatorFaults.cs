using System.Globalization;
using System.Text.RegularExpressions;

namespace TokenPool.Simulator;

/// <summary>
/// What the simulated upstream should do wrong (or specially) for one request, written as
/// <c>name=value</c> pairs (<c>status=500 retry_after=2</c>). A request picks them, first found wins:
/// <list type="number">
/// <item>the <c>x-sim</c> header (TokenPool passes client headers upstream);</item>
/// <item>a directive in the task's prompt, <c>[[sim: status=500]]</c>, which also works from Codex, OpenCode and Claude Code;</item>
/// <item>the upstream key, when it starts with <c>sim;</c> (<c>sim;flavor=vllm;no_usage</c>), so an operator's channel for <c>tokenpool simulate</c> chooses;</item>
/// <item>the simulator's <see cref="SimulatorOptions.Defaults"/>, then its <see cref="FaultProfile"/>.</item>
/// </list>
/// <c>flavor=</c> is taken from the first source that names one, whatever the others ask.
/// </summary>
internal sealed partial record SimulatorFaults
{
    // ---- Errors before the answer ----

    /// <summary>Answer with this HTTP status and the flavour's error body instead of a result.</summary>
    public int? Status { get; init; }

    /// <summary>The error body's <c>code</c> (e.g. <c>insufficient_quota</c>, <c>context_length_exceeded</c>); Anthropic: the error type.</summary>
    public string? Code { get; init; }

    /// <summary>Seconds for a Retry-After header on the error.</summary>
    public double? RetryAfter { get; init; }

    /// <summary>Put credentials into every error body: the request's own key, an <c>sk-</c> key, an <c>org-</c> id and a JWT.</summary>
    public bool LeakSecrets { get; init; }

    /// <summary>Answer with this redirect status (301, 302, 307, 308) instead of a result.</summary>
    public int? Redirect { get; init; }

    /// <summary>Where a redirect points; by default the same API under <c>/moved</c> on this simulator.</summary>
    public string? Location { get; init; }

    // ---- Timing ----

    /// <summary>Wait this long before sending response headers.</summary>
    public int DelayHeadersMs { get; init; }

    /// <summary>Wait this long between stream events.</summary>
    public int DelayEventsMs { get; init; }

    /// <summary>After the headers, stay queued this long before the first event (DeepSeek sends <c>: keep-alive</c> meanwhile).</summary>
    public int QueueMs { get; init; }

    // ---- Cutting and failing streams ----

    /// <summary>Split the answer text into this many deltas.</summary>
    public int? Deltas { get; init; }

    /// <summary>After this many events, stop sending and hold the connection open; -1 holds it before the headers.</summary>
    public int? StallAfter { get; init; }

    /// <summary>After this many events, drop the connection with no terminal event.</summary>
    public int? DropAfter { get; init; }

    /// <summary>After this many events, end with the API's mid-stream error (<c>response.failed</c>, an error chunk, <c>event: error</c>).</summary>
    public int? FailAfter { get; init; }

    /// <summary>Drop the connection (reset) at this stage of the stream.</summary>
    public StreamStage? Cut { get; init; }

    /// <summary>End the response body cleanly at this stage, with no terminal event.</summary>
    public StreamStage? Truncate { get; init; }

    /// <summary>Send the API's mid-stream error event at this stage and end.</summary>
    public StreamStage? Fail { get; init; }

    /// <summary>The error code (Anthropic: error type) of a mid-stream failure.</summary>
    public string? FailCode { get; init; }

    /// <summary>Send headers, then close without a body.</summary>
    public bool CloseAfterHeaders { get; init; }

    /// <summary>Compress the answer with gzip whatever the request's <c>Accept-Encoding</c> says.</summary>
    public bool Gzip { get; init; }

    // ---- Usage ----

    /// <summary>Report no usage at all.</summary>
    public bool NoUsage { get; init; }

    /// <summary>Report impossible (negative) usage.</summary>
    public bool BadUsage { get; init; }

    /// <summary>Report running totals over every request made with this key instead of this request's own usage.</summary>
    public bool RunningTotals { get; init; }

    /// <summary>Reported usage: input, output, cached, reasoning, 5-minute cache writes, 1-hour cache writes.</summary>
    public (long Input, long Output, long Cached, long Reasoning, long CacheWrite5m, long CacheWrite1h)? Usage { get; init; }

    /// <summary>Count this many stored input tokens for any <c>previous_response_id</c>, known or not.</summary>
    public long? PreviousInputTokens { get; init; }

    // ---- Output limits and request parsing ----

    /// <summary>Write this many output tokens (0: as many as the honoured output limit allows, or 4,096 without one).</summary>
    public long? Fill { get; init; }

    /// <summary>Honour the larger of <c>max_tokens</c> and <c>max_completion_tokens</c> (vLLM-style) instead of the newer field.</summary>
    public bool LargerLimit { get; init; }

    /// <summary>Ignore every output limit the request sets.</summary>
    public bool IgnoreLimit { get; init; }

    /// <summary>A key repeated in the body: <c>last</c> wins (default, as most servers), <c>first</c>, or <c>reject</c> with 400.</summary>
    public string? Duplicates { get; init; }

    /// <summary>End with <c>response.incomplete</c> (max_output_tokens) / <c>finish_reason: length</c> / <c>max_tokens</c>.</summary>
    public bool Incomplete { get; init; }

    /// <summary>
    /// The finish reason to send whatever the answer: Chat <c>content_filter</c>, DeepSeek's <c>insufficient_system_resource</c>,
    /// SGLang's <c>abort</c>; Messages <c>stop_sequence</c>, <c>pause_turn</c>, <c>refusal</c>; Responses <c>content_filter</c>
    /// (an incomplete response with that reason).
    /// </summary>
    public string? Finish { get; init; }

    // ---- What the model says ----

    /// <summary>The answer text to send.</summary>
    public string? Text { get; init; }

    /// <summary>Call this tool (with <see cref="Command"/>) even when the prompt does not ask for it.</summary>
    public string? Tool { get; init; }

    /// <summary>The command for <see cref="Tool"/>, and the first command of the <see cref="Agent"/> task.</summary>
    public string? Command { get; init; }

    /// <summary>Make this many tool calls at once (the same call, each with its own id), as with <c>parallel_tool_calls</c>.</summary>
    public int? Parallel { get; init; }

    /// <summary>Carry out the scripted multi-step coding task (see <see cref="AgentScript"/>).</summary>
    public bool Agent { get; init; }

    /// <summary>The agent task's file, relative to the client's working directory (default <c>greeting.txt</c>).</summary>
    public string? File { get; init; }

    /// <summary>The text the agent task replaces in <see cref="File"/> (default <c>hello</c>).</summary>
    public string? Old { get; init; }

    /// <summary>The text the agent task puts in its place (default <c>hello, world</c>).</summary>
    public string? New { get; init; }

    /// <summary>The agent task's check command (default <c>cat</c> of the file).</summary>
    public string? Check { get; init; }

    /// <summary>The flavour for this request, ahead of the simulator's own.</summary>
    public SimulatorFlavor? Flavor { get; init; }

    public static readonly SimulatorFaults None = new();

    /// <summary>True when nothing but (perhaps) a flavour is asked for.</summary>
    public bool IsEmpty => this with { Flavor = null } == None;

    /// <summary>Reads <c>key=value</c> pairs (separated by spaces or <c>;</c>) from a header value, a prompt directive or a key spec.</summary>
    public static SimulatorFaults Parse(string? spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
        {
            return None;
        }

        var faults = None;
        foreach (Match match in Pair().Matches(spec))
        {
            var name = match.Groups["name"].Value.ToLowerInvariant().Replace('-', '_');
            var value = match.Groups["quoted"].Success ? match.Groups["quoted"].Value : match.Groups["value"].Value;
            faults = name switch
            {
                "status" => faults with { Status = Int(value) },
                "code" => faults with { Code = value },
                "retry_after" => faults with { RetryAfter = double.Parse(value, CultureInfo.InvariantCulture) },
                "leak" or "leak_secrets" => faults with { LeakSecrets = true },
                "redirect" => faults with { Redirect = value.Length == 0 ? 307 : Int(value) },
                "location" => faults with { Location = value },
                "delay_headers_ms" => faults with { DelayHeadersMs = Int(value) },
                "delay_events_ms" => faults with { DelayEventsMs = Int(value) },
                "queue_ms" => faults with { QueueMs = Int(value) },
                "deltas" => faults with { Deltas = Int(value) },
                "stall_after" => faults with { StallAfter = Int(value) },
                "drop_after" => faults with { DropAfter = Int(value) },
                "fail_after" => faults with { FailAfter = Int(value) },
                "cut" => faults with { Cut = Stage(value) },
                "truncate" => faults with { Truncate = Stage(value) },
                "fail" => faults with { Fail = Stage(value) },
                "fail_code" => faults with { FailCode = value },
                "close_after_headers" => faults with { CloseAfterHeaders = true },
                "gzip" => faults with { Gzip = true },
                "no_usage" => faults with { NoUsage = true },
                "bad_usage" => faults with { BadUsage = true },
                "running_totals" or "running_usage" => faults with { RunningTotals = true },
                "usage" => faults with { Usage = ParseUsage(value) },
                "previous_input" => faults with { PreviousInputTokens = long.Parse(value, CultureInfo.InvariantCulture) },
                "fill" => faults with { Fill = value.Length == 0 ? 0 : long.Parse(value, CultureInfo.InvariantCulture) },
                "larger_limit" => faults with { LargerLimit = true },
                "ignore_limit" => faults with { IgnoreLimit = true },
                "duplicates" => faults with { Duplicates = value.ToLowerInvariant() },
                "incomplete" => faults with { Incomplete = true },
                "finish" => faults with { Finish = value },
                "text" => faults with { Text = value },
                "tool" => faults with { Tool = value },
                "cmd" => faults with { Command = value },
                "parallel" => faults with { Parallel = Int(value) },
                "agent" => faults with { Agent = true },
                "file" => faults with { File = value },
                "old" => faults with { Old = value },
                "new" => faults with { New = value },
                "check" => faults with { Check = value },
                "flavor" or "flavour" => faults with { Flavor = SimulatorFlavors.Parse(value) ?? throw new FormatException($"Unknown simulator flavour '{value}' (use {SimulatorFlavors.Names}).") },
                _ => faults,
            };
        }

        return faults;
    }

    /// <summary>Like <see cref="Parse"/>, but a malformed spec gives no faults instead of an exception.</summary>
    public static SimulatorFaults TryParse(string? spec)
    {
        try
        {
            return Parse(spec);
        }
        catch (Exception e) when (e is FormatException or OverflowException or IndexOutOfRangeException)
        {
            return None;
        }
    }

    /// <summary>The spec carried by an upstream key of the form <c>sim;flavor=vllm;no_usage</c>, or null.</summary>
    public static string? KeySpec(string? key) =>
        key is not null && (key.StartsWith("sim;", StringComparison.Ordinal) || key.StartsWith("sim:", StringComparison.Ordinal)) ? key[4..] : null;

    /// <summary>Finds a <c>[[sim: ...]]</c> directive in prompt text.</summary>
    public static string? Directive(string text)
    {
        var match = DirectivePattern().Match(text);
        return match.Success ? match.Groups[1].Value : null;
    }

    private static StreamStage Stage(string value) => value.ToLowerInvariant().Replace("-", "_", StringComparison.Ordinal) switch
    {
        "headers" or "before_headers" => StreamStage.Headers,
        "first_byte" or "before_first_byte" or "body" => StreamStage.FirstByte,
        "created" or "start" or "after_created" => StreamStage.Created,
        "reasoning" or "thinking" => StreamStage.Reasoning,
        "text" or "mid_text" => StreamStage.Text,
        "tool" or "mid_tool" or "mid_tool_call" => StreamStage.Tool,
        "finish" => StreamStage.Finish,
        "usage" or "before_usage" => StreamStage.Usage,
        "end" or "done" => StreamStage.End,
        _ => throw new FormatException($"Unknown stream stage '{value}'."),
    };

    private static (long, long, long, long, long, long) ParseUsage(string value)
    {
        var parts = value.Split(',').Select(p => long.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        long At(int i) => parts.Length > i ? parts[i] : 0;
        return (At(0), At(1), At(2), At(3), At(4), At(5));
    }

    private static int Int(string value) => int.Parse(value, CultureInfo.InvariantCulture);

    [GeneratedRegex("""(?<name>[a-zA-Z_-]+)(?:=(?:"(?<quoted>[^"]*)"|(?<value>[^\s\];]*)))?""")]
    private static partial Regex Pair();

    [GeneratedRegex(@"\[\[sim:\s*(.*?)\]\]", RegexOptions.Singleline)]
    private static partial Regex DirectivePattern();
}
