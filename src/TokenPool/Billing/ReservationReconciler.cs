using Microsoft.EntityFrameworkCore;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>
/// Releases reservations that nobody can settle any more. At start-up every open reservation belongs to a
/// process that is gone (one server owns a SQLite data directory), so all are released; afterwards, once a
/// minute, any reservation of another process past its expiry is (this process returns its own leases).
/// A released lease goes back to the balance whole: requests that were in flight in a process that died
/// are charged nothing, as TokenPool does not bill for its own crash. A reservation of a single request
/// (written by versions before leases) is recorded as that request, with outcome <c>abandoned</c>.
/// </summary>
internal sealed partial class ReservationReconciler(
    IDbContextFactory<TokenPoolDb> dbFactory,
    UsageWriter writer,
    QuotaLedger ledger,
    TimeProvider time,
    ILogger<ReservationReconciler> logger) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        var released = await ReleaseAsync(expiredOnly: false, cancellationToken);
        if (released > 0)
        {
            LogReleasedAtStart(logger, released);
        }

        await base.StartAsync(cancellationToken);
    }

    /// <summary>Releases open reservations (all, or only expired ones) and returns how many.</summary>
    public async Task<int> ReleaseAsync(bool expiredOnly, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var own = ledger.LeaseIdPrefix;
        var open = await db.Reservations.AsNoTracking()
            .Where(r => !expiredOnly || (r.ExpiresAt < now && !r.RequestId.StartsWith(own)))
            .OrderBy(r => r.CreatedAt)
            .Take(10_000)
            .ToListAsync(cancellationToken);
        if (open.Count == 0)
        {
            return 0;
        }

        var leases = open.Where(r => QuotaLedger.IsLease(r.RequestId)).ToList();
        if (leases.Count > 0)
        {
            await ledger.ReleaseRowsAsync(leases, cancellationToken);
        }

        var settlements = open.Where(r => !QuotaLedger.IsLease(r.RequestId)).Select(r => new Settlement(
            new UsageRecord
            {
                RequestId = r.RequestId,
                CreatedAt = r.CreatedAt,
                AccountId = r.AccountId,
                KeyId = r.KeyId,
                Model = "",
                Endpoint = "",
                Outcome = "abandoned",
                Status = 0,
                Note = "TokenPool stopped before this request finished; its reservation was released and nothing was charged.",
            },
            r.AmountMicros,
            HasReservation: true)).ToList();
        if (settlements.Count > 0)
        {
            await writer.WriteNowAsync(settlements, cancellationToken);
        }

        return open.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1), time);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    var released = await ReleaseAsync(expiredOnly: true, stoppingToken);
                    if (released > 0)
                    {
                        LogReleasedExpired(logger, released);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogReconcileFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Released {Count} reservations left open by a previous run")]
    private static partial void LogReleasedAtStart(ILogger logger, int count);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Released {Count} expired reservations")]
    private static partial void LogReleasedExpired(ILogger logger, int count);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Releasing expired reservations failed")]
    private static partial void LogReconcileFailed(ILogger logger, Exception exception);
}
