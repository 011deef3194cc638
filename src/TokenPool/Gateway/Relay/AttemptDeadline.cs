using System.Diagnostics;

namespace TokenPool.Gateway.Relay;

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
/// request is stopped from outside (its key revoked, the drain deadline), when the request's total time runs out,
/// or when the phase the attempt is in (response headers, then each read of the answer) outlasts its own limit,
/// whichever comes first. <see cref="Expired"/> tells which limit it was; <see cref="Stopped"/> whether it was a stop.
/// </summary>
internal sealed class AttemptDeadline : IDisposable
{
    private const int NotFired = -1;

    private readonly CancellationToken _clientGone;
    private readonly RequestStop? _stop;
    private readonly Action? _onStop;
    private readonly long _totalDeadline;
    private CancellationTokenSource _source;
    private int _armed;
    private int _fired = NotFired;

    /// <param name="clientGone">The client's connection, closed or reset.</param>
    /// <param name="totalDeadline">When the request's total time runs out, as a <see cref="Stopwatch"/> timestamp.</param>
    /// <param name="stop">The request's stop signal, if it has one.</param>
    public AttemptDeadline(CancellationToken clientGone, long totalDeadline, RequestStop? stop = null)
    {
        _clientGone = clientGone;
        _totalDeadline = totalDeadline;
        _source = NewSource();
        Enter(DeadlinePhase.Total, Timeout.InfiniteTimeSpan);
        if (stop is not null)
        {
            _stop = stop;
            _onStop = CancelNow;
            stop.OnStop(_onStop);
        }
    }

    /// <summary>The request was stopped from outside (see <see cref="RequestStop"/>), not by a limit or the client.</summary>
    public bool Stopped => _stop?.IsStopped == true && !_clientGone.IsCancellationRequested;

    public CancellationToken Token => _source.Token;

    /// <summary>
    /// Starts a phase with its own limit from now; the timer is set to that or to the end of the total time,
    /// whichever is sooner. <see cref="DeadlinePhase.Total"/> (with any limit) leaves only the total time. Once the
    /// cancellation has fired nothing changes, so <see cref="Expired"/> keeps naming the limit that fired.
    /// </summary>
    public void Enter(DeadlinePhase phase, TimeSpan limit)
    {
        if (_source.IsCancellationRequested)
        {
            return;
        }

        var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _totalDeadline);
        if (phase != DeadlinePhase.Total && limit < left)
        {
            _source.CancelAfter(limit);
            Volatile.Write(ref _armed, (int)phase);
        }
        else if (left > TimeSpan.Zero)
        {
            _source.CancelAfter(left);
            Volatile.Write(ref _armed, (int)DeadlinePhase.Total);
        }
        else
        {
            // No time left: cancel now, so that nothing more is sent upstream.
            Volatile.Write(ref _armed, (int)DeadlinePhase.Total);
            _source.Cancel();
        }
    }

    /// <summary>
    /// The upstream's headers are in: from here only the total time applies. Headers that arrived as their own timer
    /// fired still count, so the attempt goes on under a fresh cancellation.
    /// </summary>
    public void HeadersArrived()
    {
        if (Volatile.Read(ref _fired) == (int)DeadlinePhase.Headers && !_clientGone.IsCancellationRequested)
        {
            var old = _source;
            _fired = NotFired;
            Volatile.Write(ref _source, NewSource());
            old.Dispose();
            if (Stopped)
            {
                CancelNow();
            }
        }

        Enter(DeadlinePhase.Total, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Whether the cancellation came from <paramref name="phase"/>'s limit (not from the client going away or a stop).</summary>
    public bool Expired(DeadlinePhase phase) => Volatile.Read(ref _fired) == (int)phase && !_clientGone.IsCancellationRequested && !Stopped;

    public void Dispose()
    {
        if (_onStop is not null)
        {
            _stop!.Unlisten(_onStop);
        }

        _source.Dispose();
    }

    private void CancelNow()
    {
        try
        {
            Volatile.Read(ref _source).Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The attempt is over.
        }
    }

    private CancellationTokenSource NewSource()
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(_clientGone);

        // The phase is recorded when the cancellation fires, not read later: a phase entered afterwards cannot take the blame.
        source.Token.UnsafeRegister(static state =>
        {
            var deadline = (AttemptDeadline)state!;
            Interlocked.CompareExchange(ref deadline._fired, Volatile.Read(ref deadline._armed), NotFired);
        }, this);
        return source;
    }
}
