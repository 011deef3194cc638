namespace TokenPool.Billing;

/// <summary>
/// Once a second, gives back to the balance the lease room that no request has needed for
/// <see cref="BillingOptions.LeaseIdleSeconds"/>, and the room of leases whose key or account changed.
/// </summary>
internal sealed partial class LeaseReturner(QuotaLedger ledger, ILogger<LeaseReturner> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await ledger.ReturnIdleAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogReturnFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Returning idle lease room failed; retrying in a second")]
    private static partial void LogReturnFailed(ILogger logger, Exception exception);
}
