using System.ComponentModel.DataAnnotations;

namespace TokenPool.Upstreams;

/// <summary>
/// Defaults for talking to upstreams; each channel may override the timeouts. Bound from the
/// <c>Upstreams</c> section. Reasoning models think for minutes before their first token, so the
/// defaults are minutes, not the 100 seconds of a stock HTTP client.
/// </summary>
internal sealed class UpstreamOptions
{
    public const string Section = "Upstreams";

    [Range(1, 600)]
    public int ConnectTimeoutSeconds { get; set; } = 10;

    /// <summary>Waiting for the upstream's response headers (for a non-streamed request, its whole answer).</summary>
    [Range(1, 7200)]
    public int ResponseHeadersTimeoutSeconds { get; set; } = 600;

    /// <summary>Longest silence allowed between two reads of a streamed answer.</summary>
    [Range(1, 7200)]
    public int StreamIdleTimeoutSeconds { get; set; } = 300;

    /// <summary>Hard cap on one request, first byte to last.</summary>
    [Range(1, 86400)]
    public int TotalTimeoutSeconds { get; set; } = 3600;

    /// <summary>Most upstream attempts one request may make (the first try included).</summary>
    [Range(1, 20)]
    public int MaxAttempts { get; set; } = 4;

    /// <summary>Cool-down for a key that answered 429 without a Retry-After header.</summary>
    [Range(1, 3600)]
    public int DefaultCooldownSeconds { get; set; } = 10;

    /// <summary>Longest cool-down honoured from an upstream's Retry-After.</summary>
    [Range(1, 86400)]
    public int MaxCooldownSeconds { get; set; } = 600;

    /// <summary>The circuit breaker looks at this many most recent requests per key...</summary>
    [Range(2, 1000)]
    public int BreakerWindow { get; set; } = 20;

    /// <summary>...and opens when at least this many of them failed.</summary>
    [Range(1, 1000)]
    public int BreakerFailures { get; set; } = 5;

    /// <summary>First open period; doubles each time a probe fails, up to <see cref="BreakerMaxOpenSeconds"/>.</summary>
    [Range(1, 3600)]
    public int BreakerOpenSeconds { get; set; } = 15;

    [Range(1, 86400)]
    public int BreakerMaxOpenSeconds { get; set; } = 300;

    /// <summary>The admin pages show each key's requests, errors and latency over this many most recent minutes.</summary>
    [Range(1, 60)]
    public int HealthWindowMinutes { get; set; } = 15;

    /// <summary>While a Responses stream waits for its first upstream byte, a keep-alive event is sent this often.</summary>
    [Range(1, 290)]
    public int KeepAliveSeconds { get; set; } = 15;

    /// <summary>
    /// An upstream connection left idle this long is closed. Short enough that a burst of concurrent streams does not
    /// keep its connections (and their memory) for minutes; long enough that a busy session's next turn reuses one.
    /// </summary>
    [Range(1, 600)]
    public int IdleConnectionSeconds { get; set; } = 10;

    /// <summary>Use the system's HTTP proxy settings (HTTPS_PROXY and friends) for upstream calls.</summary>
    public bool UseSystemProxy { get; set; }
}
