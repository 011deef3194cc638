namespace TokenPool.Upstreams;

internal enum BreakerState
{
    Closed,
    Open,

    /// <summary>The open period is over; a probe decides whether the key is healthy again.</summary>
    HalfOpen,
}

/// <summary>
/// Health of one upstream key, kept across configuration reloads. Three separate things keep a key out
/// of rotation: a cool-down after a 429 (as long as the upstream asked), an open circuit breaker
/// (too many failures among the most recent requests, not one error), and being disabled because the
/// upstream said the key is invalid or out of credit.
/// </summary>
internal sealed class KeyHealth(long keyId, UpstreamOptions options)
{
    private const int RecentErrorCount = 10;
    private const int LatencySamples = 128;

    private readonly Lock _lock = new();
    private readonly bool[] _window = new bool[options.BreakerWindow];
    private readonly ErrorRing _recentErrors = new(RecentErrorCount);
    private readonly RollingCounts _counts = new(Math.Max(1, options.HealthWindowMinutes), 60_000);
    private readonly LatencyRing _latency = new(LatencySamples);
    private int _next;
    private int _count;
    private int _failures;
    private long _openUntil;
    private int _opens;
    private long _cooldownUntil;
    private long _requests;
    private long _errorsTotal;

    public long KeyId { get; } = keyId;

    public BreakerState State { get; private set; }

    /// <summary>Set when the upstream rejected the key itself; cleared when an operator enables the key again.</summary>
    public string? DisabledReason { get; private set; }

    public long CooldownUntil => Volatile.Read(ref _cooldownUntil);

    public bool IsAvailable(long now) =>
        DisabledReason is null && State == BreakerState.Closed && Volatile.Read(ref _cooldownUntil) <= now;

    /// <summary>Milliseconds (Environment.TickCount64) until the key can take requests again, if it is only resting.</summary>
    public long AvailableAt
    {
        get
        {
            lock (_lock)
            {
                return Math.Max(_cooldownUntil, State == BreakerState.Closed ? 0 : _openUntil);
            }
        }
    }

    public void RecordSuccess(long latencyMs) => RecordSuccess(latencyMs, Environment.TickCount64);

    /// <summary>Counts a good answer; <paramref name="latencyMs"/> is its time to first byte.</summary>
    public void RecordSuccess(long latencyMs, long now)
    {
        lock (_lock)
        {
            _requests++;
            _counts.Add(now, error: false);
            _latency.Add(now, latencyMs);
            Push(failure: false);
        }
    }

    public void RecordFailure(string error, long now) => RecordFailure(new UpstreamError(0, null, error), now);

    /// <summary>Counts a failure that says something about the upstream (connect error, timeout, 5xx, cut stream).</summary>
    public void RecordFailure(UpstreamError error, long now)
    {
        lock (_lock)
        {
            CountError(error, now);
            Push(failure: true);
            if (State == BreakerState.Closed && _failures >= options.BreakerFailures)
            {
                Open(now);
            }
        }
    }

    public void CoolDown(TimeSpan duration, string error, long now) => CoolDown(duration, new UpstreamError(0, null, error), now);

    /// <summary>The upstream asked us to slow down: rest the key for as long as it said.</summary>
    public void CoolDown(TimeSpan duration, UpstreamError error, long now)
    {
        lock (_lock)
        {
            CountError(error, now);
            var max = TimeSpan.FromSeconds(options.MaxCooldownSeconds);
            var until = now + (long)(duration > max ? max : duration).TotalMilliseconds;
            if (until > _cooldownUntil)
            {
                _cooldownUntil = until;
            }
        }
    }

    public void Disable(string reason) => Disable(reason, new UpstreamError(0, null, reason), Environment.TickCount64);

    /// <summary>The upstream rejected the key itself (invalid, revoked, out of credit): no request goes to it until an operator enables it.</summary>
    public void Disable(string reason, UpstreamError error, long now)
    {
        lock (_lock)
        {
            DisabledReason = reason;
            CountError(error, now);
        }
    }

    /// <summary>An operator enabled the key again: it takes requests at once.</summary>
    public void Enable()
    {
        lock (_lock)
        {
            DisabledReason = null;
        }
    }

    /// <summary>An operator reset the key: breaker closed, cool-down ended, failure window emptied. Statistics are kept.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            CloseBreaker();
            _cooldownUntil = 0;
        }
    }

    /// <summary>Moves an open breaker whose period is over to half-open; true when a probe is due.</summary>
    public bool ProbeDue(long now)
    {
        lock (_lock)
        {
            if (State == BreakerState.Open && _openUntil <= now)
            {
                State = BreakerState.HalfOpen;
            }

            return State == BreakerState.HalfOpen;
        }
    }

    public void ProbeSucceeded()
    {
        lock (_lock)
        {
            CloseBreaker();
        }
    }

    public void ProbeFailed(string error, long now) => ProbeFailed(new UpstreamError(0, null, error), now);

    public void ProbeFailed(UpstreamError error, long now)
    {
        lock (_lock)
        {
            _recentErrors.Add(now, error);
            Open(now);
        }
    }

    public HealthReport Report() => Report(Environment.TickCount64, DateTime.UtcNow);

    /// <summary>The key's state and statistics at <paramref name="now"/> (Environment.TickCount64), with times in UTC.</summary>
    public HealthReport Report(long now, DateTime utcNow)
    {
        lock (_lock)
        {
            var state = DisabledReason is not null ? KeyState.Disabled
                : State == BreakerState.Open ? KeyState.CircuitOpen
                : State == BreakerState.HalfOpen ? KeyState.HalfOpen
                : _cooldownUntil > now ? KeyState.CoolingDown
                : KeyState.Healthy;
            long? until = state switch
            {
                KeyState.CircuitOpen => _openUntil,
                KeyState.CoolingDown => _cooldownUntil,
                _ => null,
            };
            var (requests, errors) = _counts.Total(now);
            return new HealthReport(
                KeyId,
                state,
                DisabledReason,
                until is { } u ? utcNow + TimeSpan.FromMilliseconds(u - now) : null,
                requests,
                errors,
                _counts.Window,
                _failures,
                _count,
                _latency.Summarise(now, _counts.Window),
                _requests,
                _errorsTotal,
                _recentErrors.Newest(now, utcNow));
        }
    }

    /// <summary>Adds the time-to-first-byte samples of the rolling window to <paramref name="samples"/>, to summarise several keys together.</summary>
    public void CopyLatencies(long now, List<int> samples)
    {
        lock (_lock)
        {
            _latency.CopyTo(now, _counts.Window, samples);
        }
    }

    private void CountError(UpstreamError error, long now)
    {
        _requests++;
        _errorsTotal++;
        _counts.Add(now, error: true);
        _recentErrors.Add(now, error);
    }

    private void CloseBreaker()
    {
        State = BreakerState.Closed;
        _opens = 0;
        Array.Clear(_window);
        _count = 0;
        _failures = 0;
        _next = 0;
    }

    private void Open(long now)
    {
        State = BreakerState.Open;
        var seconds = Math.Min(options.BreakerMaxOpenSeconds, options.BreakerOpenSeconds * (1L << Math.Min(_opens, 16)));
        _opens++;
        _openUntil = now + seconds * 1000;
    }

    private void Push(bool failure)
    {
        if (_count == _window.Length && _window[_next])
        {
            _failures--;
        }

        _window[_next] = failure;
        if (failure)
        {
            _failures++;
        }

        _next = (_next + 1) % _window.Length;
        _count = Math.Min(_count + 1, _window.Length);
    }
}

/// <summary>Whether a key takes requests, as admins see it.</summary>
internal enum KeyState
{
    Healthy,

    /// <summary>Resting after a 429 (or a 503 with Retry-After) for as long as the upstream asked.</summary>
    CoolingDown,

    /// <summary>Too many recent failures: no request goes to it until its open period ends and a probe succeeds.</summary>
    CircuitOpen,

    /// <summary>The open period is over; a health probe decides.</summary>
    HalfOpen,

    /// <summary>The upstream said the key is invalid or out of credit, or an admin turned it off.</summary>
    Disabled,
}

/// <summary>
/// A key's health for the admin pages: its state, requests and errors over the rolling window, the
/// circuit breaker's failure count over the last requests, time to first byte, and the recent errors.
/// </summary>
internal sealed record HealthReport(
    long KeyId,
    KeyState State,
    string? DisabledReason,
    DateTime? Until,
    int WindowRequests,
    int WindowErrors,
    TimeSpan Window,
    int BreakerFailures,
    int BreakerRequests,
    LatencySummary Latency,
    long Requests,
    long Errors,
    IReadOnlyList<HealthError> RecentErrors)
{
    /// <summary>Errors as a share (0 to 1) of the requests in the rolling window.</summary>
    public double ErrorRate => WindowRequests == 0 ? 0 : (double)WindowErrors / WindowRequests;
}
