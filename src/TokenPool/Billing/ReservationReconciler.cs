using Microsoft.EntityFrameworkCore;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>
/// Releases reservations whose request can no longer settle them. At start-up every open reservation
/// belongs to a process that is gone (one server owns a SQLite data directory), so all are released;
/// afterwards, once a minute, any reservation past its expiry is. A released request is recorded with
/// outcome <c>abandoned</c> and charged nothing: TokenPool does not bill for its own crash.
/// </summary>
internal sealed partial class ReservationReconciler(
    IDbContextFactory<TokenPoolDb> dbFactory,
    UsageWriter writer,
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
        var open = await db.Reservations.AsNoTracking()
            .Where(r => !expiredOnly || r.ExpiresAt < now)
            .OrderBy(r => r.CreatedAt)
            .Take(10_000)
            .ToListAsync(cancellationToken);
        if (open.Count == 0)
        {
            return 0;
        }

        var settlements = open.Select(r => new Settlement(
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
        await writer.WriteNowAsync(settlements, cancellationToken);
        return settlements.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
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

    [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "Released {Count} reservations left open by a previous run")]
    private static partial void LogReleasedAtStart(ILogger logger, int count);

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Released {Count} expired reservations")]
    private static partial void LogReleasedExpired(ILogger logger, int count);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Releasing expired reservations failed")]
    private static partial void LogReconcileFailed(ILogger logger, Exception exception);
}
