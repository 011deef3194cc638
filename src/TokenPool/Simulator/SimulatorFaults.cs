using System.Globalization;
using System.Text.RegularExpressions;

namespace TokenPool.Simulator;

/// <summary>
/// What the simulated upstream should do wrong (or specially) for one request. Tests ask for it with an
/// <c>x-sim</c> header (which TokenPool passes upstream like any client header) or with a directive in
/// the prompt, <c>[[sim: status=500 retry_after=2]]</c>, which also works from Codex and OpenCode.
/// A whole simulator can also carry a <see cref="FaultProfile"/> that fails a share of requests.
/// </summary>
internal sealed partial record SimulatorFaults
{
    /// <summary>Answer with this HTTP status and an OpenAI error body instead of a result.</summary>
    public int? Status { get; init; }

    /// <summary>The error body's <c>code</c> (e.g. <c>insufficient_quota</c>, <c>context_length_exceeded</c>).</summary>
    public string? Code { get; init; }

    /// <summary>Seconds for a Retry-After header on the error.</summary>
    public double? RetryAfter { get; init; }

    /// <summary>Wait this long before sending response headers.</summary>
    public int DelayHeadersMs { get; init; }

    /// <summary>Wait this long between stream events.</summary>
    public int DelayEventsMs { get; init; }

    /// <summary>Split the answer text into this many deltas.</summary>
    public int? Deltas { get; init; }

    /// <summary>After this many events, stop sending and hold the connection open; -1 holds it before the headers.</summary>
    public int? StallAfter { get; init; }

    /// <summary>After this many events, drop the connection with no terminal event.</summary>
    public int? DropAfter { get; init; }

    /// <summary>After this many events, end with <c>response.failed</c> (Chat Completions: an error chunk).</summary>
    public int? FailAfter { get; init; }

    /// <summary>Send headers, then close without a body.</summary>
    public bool CloseAfterHeaders { get; init; }

    /// <summary>Report no usage at all.</summary>
    public bool NoUsage { get; init; }

    /// <summary>Report impossible (negative) usage.</summary>
    public bool BadUsage { get; init; }

    /// <summary>End with <c>response.incomplete</c> (max_output_tokens) / <c>finish_reason: length</c>.</summary>
    public bool Incomplete { get; init; }

    /// <summary>The answer text to send.</summary>
    public string? Text { get; init; }

    /// <summary>Call this tool (with <see cref="Command"/>) even when the prompt does not ask for it.</summary>
    public string? Tool { get; init; }

    public string? Command { get; init; }

    /// <summary>Reported usage: input, output, cached, reasoning.</summary>
    public (long Input, long Output, long Cached, long Reasoning)? Usage { get; init; }

    public static readonly SimulatorFaults None = new();

    public bool IsEmpty => this == None;

    /// <summary>Reads <c>key=value</c> pairs from a header value or a prompt directive.</summary>
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
                "delay_headers_ms" => faults with { DelayHeadersMs = Int(value) },
                "delay_events_ms" => faults with { DelayEventsMs = Int(value) },
                "deltas" => faults with { Deltas = Int(value) },
                "stall_after" => faults with { StallAfter = Int(value) },
                "drop_after" => faults with { DropAfter = Int(value) },
                "fail_after" => faults with { FailAfter = Int(value) },
                "close_after_headers" => faults with { CloseAfterHeaders = true },
                "no_usage" => faults with { NoUsage = true },
                "bad_usage" => faults with { BadUsage = true },
                "incomplete" => faults with { Incomplete = true },
                "text" => faults with { Text = value },
                "tool" => faults with { Tool = value },
                "cmd" => faults with { Command = value },
                "usage" => faults with { Usage = ParseUsage(value) },
                _ => faults,
            };
        }

        return faults;
    }

    /// <summary>Finds a <c>[[sim: ...]]</c> directive in prompt text.</summary>
    public static string? Directive(string text)
    {
        var match = DirectivePattern().Match(text);
        return match.Success ? match.Groups[1].Value : null;
    }

    private static (long, long, long, long) ParseUsage(string value)
    {
        var parts = value.Split(',').Select(p => long.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return (parts[0], parts.Length > 1 ? parts[1] : 0, parts.Length > 2 ? parts[2] : 0, parts.Length > 3 ? parts[3] : 0);
    }

    private static int Int(string value) => int.Parse(value, CultureInfo.InvariantCulture);

    [GeneratedRegex("""(?<name>[a-zA-Z_-]+)(?:=(?:"(?<quoted>[^"]*)"|(?<value>[^\s\]]+)))?""")]
    private static partial Regex Pair();

    [GeneratedRegex(@"\[\[sim:\s*(.*?)\]\]", RegexOptions.Singleline)]
    private static partial Regex DirectivePattern();
}

/// <summary>Faults applied to a share of all requests a simulator serves (for fault runs across many requests).</summary>
internal sealed record FaultProfile(double FailRate = 0, int FailStatus = 500, double StallRate = 0, double DropRate = 0, int Seed = 1)
{
    public static readonly FaultProfile None = new();

    public SimulatorFaults Pick(Random random)
    {
        var roll = random.NextDouble();
        if (roll < FailRate)
        {
            return new SimulatorFaults { Status = FailStatus };
        }

        roll -= FailRate;
        if (roll < StallRate)
        {
            return new SimulatorFaults { StallAfter = -1 };
        }

        roll -= StallRate;
        return roll < DropRate ? new SimulatorFaults { DropAfter = 3 } : SimulatorFaults.None;
    }
}
