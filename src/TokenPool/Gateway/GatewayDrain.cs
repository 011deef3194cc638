namespace TokenPool.Gateway;

/// <summary>
/// The gateway's part in a graceful stop. The server's lifecycle calls <see cref="Begin"/> when it is asked to
/// stop (readiness turns false, new API requests are refused with a retryable error) and <see cref="EndStreams"/>
/// when the drain deadline passes (streams still running end at once with their API's terminal error event),
/// then waits for every request in flight to settle before it exits.
/// </summary>
internal sealed class GatewayDrain : IDisposable
{
    private readonly CancellationTokenSource _deadline = new();
    private volatile bool _draining;

    /// <summary>The server is stopping: new API requests get a retryable refusal.</summary>
    public bool Draining => _draining;

    /// <summary>Cancelled when the drain deadline passes: requests still running must end now.</summary>
    public CancellationToken Deadline => _deadline.Token;

    public void Begin() => _draining = true;

    public void EndStreams()
    {
        _draining = true;
        _deadline.Cancel();
    }

    public void Dispose() => _deadline.Dispose();
}
