using System.Globalization;
using TokenPool.Upstreams;

namespace TokenPool.WebConsole.Pages.Admin;

/// <summary>How the admin pages write health: states, rates, latencies and times, in plain English.</summary>
internal static class HealthFormat
{
    public static string State(KeyState state) => state switch
    {
        KeyState.Healthy => "healthy",
        KeyState.CoolingDown => "cooling down",
        KeyState.CircuitOpen => "circuit open",
        KeyState.HalfOpen => "half-open",
        _ => "disabled",
    };

    public static string Badge(KeyState state) => state switch
    {
        KeyState.Healthy => "ok",
        KeyState.CoolingDown or KeyState.HalfOpen => "warn",
        _ => "bad",
    };

    public static string ChannelBadge(string state) => state switch
    {
        "healthy" => "ok",
        "degraded" => "warn",
        _ => "bad",
    };

    /// <summary>What follows the state: until when, or why.</summary>
    public static string Detail(KeyHealthView key, DateTime utcNow) => key.State switch
    {
        KeyState.CoolingDown when key.Until is { } until => $"until {Time(until)} ({In(until - utcNow)}), as the upstream asked",
        KeyState.CircuitOpen when key.Until is { } until => $"too many recent failures; a health probe is sent at {Time(until)} ({In(until - utcNow)})",
        KeyState.HalfOpen => "a health probe decides whether it takes requests again",
        KeyState.Disabled => key.Reason ?? "",
        _ => "",
    };

    public static string Percent(double share) => (share * 100).ToString("0.#", CultureInfo.InvariantCulture) + "%";

    public static string Rate(int errors, int requests) =>
        requests == 0 ? "no requests" : $"{Percent(requests == 0 ? 0 : (double)errors / requests)} ({errors} of {requests} failed)";

    public static string Latency(LatencySummary latency) =>
        latency.Samples == 0 ? "—" : $"p50 {latency.P50Ms} ms · p95 {latency.P95Ms} ms · mean {latency.MeanMs} ms";

    /// <summary>One line for a key in the channel list: error rate of its requests, and median time to first byte.</summary>
    public static string Short(HealthReport? report) =>
        report is null || report.WindowRequests == 0 ? "no requests"
        : $"{Percent(report.ErrorRate)} of {report.WindowRequests} failed" + (report.Latency.Samples == 0 ? "" : $" · p50 {report.Latency.P50Ms} ms");

    public static string Window(TimeSpan window) =>
        window.TotalMinutes >= 1 ? $"{window.TotalMinutes:0} min" : $"{window.TotalSeconds:0} s";

    public static string Time(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC";

    public static string Iso(DateTime utc) => utc.ToString("O", CultureInfo.InvariantCulture);

    public static string Status(HealthError error) => error.Status == 0 ? "—" : error.Status.ToString(CultureInfo.InvariantCulture);

    private static string In(TimeSpan span) =>
        span <= TimeSpan.Zero ? "now"
        : span.TotalMinutes >= 1 ? $"in {(int)span.TotalMinutes}m {span.Seconds}s"
        : $"in {Math.Ceiling(span.TotalSeconds):0}s";
}
