using System.ComponentModel.DataAnnotations;

namespace TokenPool.Hosting;

/// <summary>How the server stops. Bound from the <c>Lifecycle</c> section.</summary>
internal sealed class LifecycleOptions
{
    public const string Section = "Lifecycle";

    /// <summary>
    /// Seconds a stop (SIGTERM, Ctrl+C) lets the requests in flight run to their end; those still running then get their
    /// API's terminal error event. Meanwhile readiness is false and new requests get a retryable refusal.
    /// </summary>
    [Range(0, 3_600)]
    public int DrainSeconds { get; set; } = 30;

    /// <summary>Seconds, after the drain deadline, that requests ended by it get to settle before the server stops anyway.</summary>
    [Range(1, 600)]
    public int SettleSeconds { get; set; } = 10;
}
