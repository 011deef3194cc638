namespace TokenPool.Gateway;

/// <summary>Why a running request was ended by TokenPool rather than by its client or its upstream.</summary>
internal enum StopReason
{
    None,

    /// <summary>The key was deleted, disabled or expired while the request ran.</summary>
    KeyRevoked,

    /// <summary>The account that owns the key was disabled while the request ran.</summary>
    AccountDisabled,

    /// <summary>The server is stopping and its drain deadline passed.</summary>
    Draining,
}

/// <summary>
/// The signal that ends one running request from outside (a revoked key, a disabled account, the drain deadline).
/// Cheap by design, since every request has one: no cancellation source of its own; the attempt that is running
/// listens with <see cref="OnStop"/> and cancels its own.
/// </summary>
internal sealed class RequestStop(long keyId, long accountId)
{
    private Action? _listener;
    private int _reason;

    public long KeyId { get; } = keyId;

    public long AccountId { get; } = accountId;

    public StopReason Reason => (StopReason)Volatile.Read(ref _reason);

    public bool IsStopped => Volatile.Read(ref _reason) != (int)StopReason.None;

    /// <summary>Ends the request (the first reason given is kept).</summary>
    public void Stop(StopReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, (int)StopReason.None) == (int)StopReason.None)
        {
            Volatile.Read(ref _listener)?.Invoke();
        }
    }

    /// <summary>
    /// Calls <paramref name="listener"/> when the request is stopped (at once if it already is), until
    /// <see cref="Unlisten"/>. It may be called twice, so it must not mind (cancelling a source does not).
    /// </summary>
    public void OnStop(Action listener)
    {
        Volatile.Write(ref _listener, listener);
        if (IsStopped)
        {
            listener();
        }
    }

    public void Unlisten(Action listener) => Interlocked.CompareExchange(ref _listener, null, listener);
}
