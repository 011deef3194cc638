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
    private readonly Lock _lock = new();
    private readonly bool[] _window = new bool[options.BreakerWindow];
    private readonly RecentErrors _recentErrors = new(10);
    private int _next;
    private int _count;
    private int _failures;
    private long _openUntil;
    private int _opens;
    private long _cooldownUntil;
    private long _requests;
    private long _failuresTotal;
    private long _latencyTotalMs;

    public long KeyId { get; } = keyId;

    public BreakerState State { get; private set; }

    /// <summary>Set when the upstream rejected the key itself; cleared only by an operator.</summary>
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

    public void RecordSuccess(long latencyMs)
    {
        lock (_lock)
        {
            _requests++;
            _latencyTotalMs += latencyMs;
            Push(failure: false);
        }
    }

    /// <summary>Counts a failure that says something about the upstream (connect error, timeout, 5xx, cut stream).</summary>
    public void RecordFailure(string error, long now)
    {
        lock (_lock)
        {
            _requests++;
            _failuresTotal++;
            _recentErrors.Add(error);
            Push(failure: true);
            if (State == BreakerState.Closed && _failures >= options.BreakerFailures)
            {
                Open(now);
            }
        }
    }

    /// <summary>The upstream asked us to slow down: rest the key for as long as it said.</summary>
    public void CoolDown(TimeSpan duration, string error, long now)
    {
        lock (_lock)
        {
            _requests++;
            _recentErrors.Add(error);
            var max = TimeSpan.FromSeconds(options.MaxCooldownSeconds);
            var until = now + (long)(duration > max ? max : duration).TotalMilliseconds;
            if (until > _cooldownUntil)
            {
                _cooldownUntil = until;
            }
        }
    }

    public void Disable(string reason)
    {
        lock (_lock)
        {
            DisabledReason = reason;
            _recentErrors.Add(reason);
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
            State = BreakerState.Closed;
            _opens = 0;
            Array.Clear(_window);
            _count = 0;
            _failures = 0;
            _next = 0;
        }
    }

    public void ProbeFailed(string error, long now)
    {
        lock (_lock)
        {
            _recentErrors.Add(error);
            Open(now);
        }
    }

    public HealthReport Report()
    {
        lock (_lock)
        {
            return new HealthReport(
                KeyId,
                DisabledReason is not null ? "disabled" : State.ToString().ToLowerInvariant(),
                DisabledReason,
                _requests,
                _failuresTotal,
                _count == 0 ? 0 : (double)_failures / _count,
                _requests == 0 ? 0 : _latencyTotalMs / Math.Max(1, _requests - _failuresTotal),
                _cooldownUntil,
                _recentErrors.ToArray());
        }
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

    private sealed class RecentErrors(int capacity)
    {
        private readonly Queue<string> _items = new(capacity);

        public void Add(string error)
        {
            if (_items.Count == capacity)
            {
                _items.Dequeue();
            }

            _items.Enqueue($"{DateTime.UtcNow:O} {error}");
        }

        public string[] ToArray() => [.. _items];
    }
}

/// <summary>A key's health for the admin pages.</summary>
internal sealed record HealthReport(
    long KeyId,
    string State,
    string? DisabledReason,
    long Requests,
    long Failures,
    double RecentFailureRate,
    long AverageLatencyMs,
    long CooldownUntil,
    string[] RecentErrors);
