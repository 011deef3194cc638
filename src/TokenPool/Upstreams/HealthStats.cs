namespace TokenPool.Upstreams;

/// <summary>
/// Requests and errors over a rolling time window, in fixed time buckets reused as time moves on: a
/// record is two integer increments and never allocates. Not thread-safe; <see cref="KeyHealth"/> locks.
/// </summary>
internal sealed class RollingCounts
{
    private readonly long[] _epochs;
    private readonly int[] _requests;
    private readonly int[] _errors;
    private readonly long _bucketMs;

    public RollingCounts(int buckets, long bucketMs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(buckets, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(bucketMs, 1);
        _epochs = new long[buckets];
        Array.Fill(_epochs, long.MinValue);
        _requests = new int[buckets];
        _errors = new int[buckets];
        _bucketMs = bucketMs;
    }

    /// <summary>How far back the counts reach.</summary>
    public TimeSpan Window => TimeSpan.FromMilliseconds(_bucketMs * _epochs.Length);

    public void Add(long now, bool error)
    {
        var epoch = now / _bucketMs;
        var index = (int)(epoch % _epochs.Length);
        if (_epochs[index] != epoch)
        {
            _epochs[index] = epoch;
            _requests[index] = 0;
            _errors[index] = 0;
        }

        _requests[index]++;
        if (error)
        {
            _errors[index]++;
        }
    }

    /// <summary>Requests and errors in the buckets that are still inside the window at <paramref name="now"/>.</summary>
    public (int Requests, int Errors) Total(long now)
    {
        var current = now / _bucketMs;
        var requests = 0;
        var errors = 0;
        for (var i = 0; i < _epochs.Length; i++)
        {
            if (_epochs[i] <= current && _epochs[i] > current - _epochs.Length)
            {
                requests += _requests[i];
                errors += _errors[i];
            }
        }

        return (requests, errors);
    }
}

/// <summary>
/// The most recent latencies (milliseconds, with when each was taken) in a fixed ring; the oldest is
/// overwritten. Percentiles are worked out only when someone asks. Not thread-safe.
/// </summary>
internal sealed class LatencyRing(int capacity)
{
    private readonly long[] _at = new long[capacity];
    private readonly int[] _ms = new int[capacity];
    private int _next;
    private int _count;

    public int Count => _count;

    public void Add(long now, long latencyMs)
    {
        _at[_next] = now;
        _ms[_next] = (int)Math.Clamp(latencyMs, 0, int.MaxValue);
        _next = (_next + 1) % _at.Length;
        _count = Math.Min(_count + 1, _at.Length);
    }

    /// <summary>Median, 95th percentile (nearest rank) and mean of the samples taken in the last <paramref name="window"/>.</summary>
    public LatencySummary Summarise(long now, TimeSpan window)
    {
        var samples = new List<int>(_count);
        CopyTo(now, window, samples);
        return LatencySummary.Of(samples);
    }

    /// <summary>Adds the samples taken in the last <paramref name="window"/> to <paramref name="samples"/>.</summary>
    public void CopyTo(long now, TimeSpan window, List<int> samples)
    {
        var since = now - (long)window.TotalMilliseconds;
        for (var i = 0; i < _count; i++)
        {
            if (_at[i] > since && _at[i] <= now)
            {
                samples.Add(_ms[i]);
            }
        }
    }
}

/// <summary>Time to first byte over recent successful requests.</summary>
internal sealed record LatencySummary(int Samples, int P50Ms, int P95Ms, long MeanMs)
{
    public static readonly LatencySummary None = new(0, 0, 0, 0);

    /// <summary>Sorts <paramref name="samples"/> and summarises them.</summary>
    public static LatencySummary Of(List<int> samples)
    {
        if (samples.Count == 0)
        {
            return None;
        }

        samples.Sort();
        long sum = 0;
        foreach (var sample in samples)
        {
            sum += sample;
        }

        return new LatencySummary(samples.Count, Percentile(samples, 50), Percentile(samples, 95), sum / samples.Count);
    }

    /// <summary>The nearest-rank percentile of sorted samples: the smallest sample with at least that share of samples at or below it.</summary>
    private static int Percentile(List<int> sorted, int percent) => sorted[Math.Max(1, (int)Math.Ceiling(percent / 100.0 * sorted.Count)) - 1];
}

/// <summary>
/// What an upstream answered when it failed, kept for the admin pages: an HTTP status (0 when there was
/// none: timeout, refused connection, cut stream), the error code from its JSON body, and a short
/// description written by TokenPool. Never the upstream's own message, which may quote the key.
/// </summary>
internal readonly record struct UpstreamError(int Status, string? Code, string Message)
{
    /// <summary>An upstream's error code, only when it looks like one (<c>invalid_api_key</c>): never free text, which may quote the key.</summary>
    public static string? SafeCode(string? code) => Gateway.Relay.SecretScrubber.SafeCode(code);
}

/// <summary>One recent error of a key, as shown to admins.</summary>
internal sealed record HealthError(DateTime At, int Status, string? Code, string Message);

/// <summary>The last few errors of a key in a fixed ring; the oldest is overwritten. Not thread-safe.</summary>
internal sealed class ErrorRing(int capacity)
{
    private readonly long[] _at = new long[capacity];
    private readonly UpstreamError[] _errors = new UpstreamError[capacity];
    private int _next;
    private int _count;

    public void Add(long now, UpstreamError error)
    {
        _at[_next] = now;
        _errors[_next] = error with { Code = UpstreamError.SafeCode(error.Code) };
        _next = (_next + 1) % _at.Length;
        _count = Math.Min(_count + 1, _at.Length);
    }

    /// <summary>The kept errors, newest first, with wall-clock times worked out from <paramref name="now"/> and <paramref name="utcNow"/>.</summary>
    public HealthError[] Newest(long now, DateTime utcNow)
    {
        var result = new HealthError[_count];
        for (var i = 0; i < _count; i++)
        {
            var index = ((_next - 1 - i) % _at.Length + _at.Length) % _at.Length;
            var error = _errors[index];
            result[i] = new HealthError(utcNow - TimeSpan.FromMilliseconds(now - _at[index]), error.Status, error.Code, error.Message);
        }

        return result;
    }
}
