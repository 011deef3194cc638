using System.Diagnostics;

namespace TokenPool.Gateway;

/// <summary>The limits an attempt at an upstream runs under, besides the client staying connected.</summary>
internal enum DeadlinePhase
{
    /// <summary>The request's total time, as the channel serving it allows, counted from the request's start.</summary>
    Total,

    /// <summary>Waiting for the upstream's response headers.</summary>
    Headers,

    /// <summary>Waiting for the next bytes of the answer.</summary>
    Idle,
}

/// <summary>
/// One cancellation, with one timer, for one attempt at an upstream: it fires when the client goes away, when the
/// request's total time runs out, or when the phase the attempt is in (response headers, then each read of the
/// answer) outlasts its own limit, whichever comes first. <see cref="Expired"/> tells which limit it was.
/// </summary>
internal sealed class AttemptDeadline : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly long _totalDeadline;
    private DeadlinePhase _armed;

    /// <param name="clientGone">The client's connection, closed or reset.</param>
    /// <param name="totalDeadline">When the request's total time runs out, as a <see cref="Stopwatch"/> timestamp.</param>
    public AttemptDeadline(CancellationToken clientGone, long totalDeadline)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(clientGone);
        _totalDeadline = totalDeadline;
        Enter(DeadlinePhase.Total, Timeout.InfiniteTimeSpan);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>
    /// Starts a phase with its own limit from now; the timer is set to that or to the end of the total time,
    /// whichever is sooner. <see cref="DeadlinePhase.Total"/> (with any limit) leaves only the total time.
    /// </summary>
    public void Enter(DeadlinePhase phase, TimeSpan limit)
    {
        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _totalDeadline);
        if (phase != DeadlinePhase.Total && limit < left)
        {
            _armed = phase;
            _source.CancelAfter(limit);
        }
        else
        {
            _armed = DeadlinePhase.Total;
            _source.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
    }

    /// <summary>Whether the cancellation came from <paramref name="phase"/>'s limit (not from the client going away).</summary>
    public bool Expired(DeadlinePhase phase) => _source.IsCancellationRequested && _armed == phase;

    public void Dispose() => _source.Dispose();
}
