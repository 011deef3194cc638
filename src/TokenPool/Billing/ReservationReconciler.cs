using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>
/// This instance's identity and heartbeat, and the release of leases that nobody can settle any more:
/// <list type="number">
/// <item>at start, the instance writes its row in <c>gateway_instances</c> (its id names its leases), then releases what
/// is left over: on SQLite every lease but its own (one server owns a SQLite data directory, so their process is gone);
/// on PostgreSQL, where other instances run, only the leases of instances that stopped heart-beating;</item>
/// <item>every <see cref="HeartbeatInterval"/> it writes its heartbeat, and releases the leases of any instance whose
/// heartbeat is older than <see cref="StoreOptions.InstanceTimeoutSeconds"/> (a process killed, a machine gone), then
/// forgets that instance; and any lease row that names no known instance and is older than the same bound;</item>
/// <item>a reservation of a single request (written by versions before leases) is released once past its expiry and
/// recorded as that request, with outcome <c>abandoned</c>.</item>
/// </list>
/// A released lease goes back to the balance whole: requests that were in flight in an instance that died are charged
/// nothing, as TokenPool does not bill for its own crash. An instance stopping normally returns its leases itself.
/// </summary>
internal sealed partial class ReservationReconciler(
    IDbContextFactory<TokenPoolDb> dbFactory,
    StoreConnection store,
    IOptions<StoreOptions> storeOptions,
    UsageWriter writer,
    QuotaLedger ledger,
    TimeProvider time,
    ILogger<ReservationReconciler> logger) : BackgroundService
{
    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(2);

    private readonly TimeSpan _timeout = TimeSpan.FromSeconds(storeOptions.Value.InstanceTimeoutSeconds);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await using (var db = await dbFactory.CreateDbContextAsync(cancellationToken))
        {
            var now = time.GetUtcNow().UtcDateTime;
            db.GatewayInstances.Add(new GatewayInstance { Id = ledger.InstanceId, Host = Environment.MachineName, StartedAt = now, HeartbeatAt = now });
            await db.SaveChangesAsync(cancellationToken);
        }

        // What a killed predecessor answered but never wrote is settled first, against the leases it still holds.
        await writer.ReplayJournalAsync(cancellationToken);
        var released = await ReleaseAsync(atStart: true, cancellationToken);
        if (released > 0)
        {
            LogReleasedAtStart(logger, released);
        }

        await base.StartAsync(cancellationToken);
    }

    /// <summary>Releases what nobody can settle any more (see the summary) and returns how many rows.</summary>
    public async Task<int> ReleaseAsync(bool atStart, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var staleBefore = now - _timeout;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var instances = await db.GatewayInstances.AsNoTracking().ToListAsync(cancellationToken);
        var gone = instances
            .Where(i => i.Id != ledger.InstanceId && (i.HeartbeatAt < staleBefore || (atStart && store.Provider == StoreProvider.Sqlite)))
            .Select(i => i.Id)
            .ToHashSet(StringComparer.Ordinal);
        var alive = instances.Select(i => i.Id).Where(id => !gone.Contains(id)).ToHashSet(StringComparer.Ordinal);
        var rows = await db.Reservations.AsNoTracking().OrderBy(r => r.CreatedAt).Take(10_000).ToListAsync(cancellationToken);
        var open = rows.Where(r => QuotaLedger.LeaseInstance(r.RequestId) is { } owner
                ? !alive.Contains(owner) && (gone.Contains(owner) || r.CreatedAt < staleBefore || (atStart && store.Provider == StoreProvider.Sqlite))
                : r.ExpiresAt < now || (atStart && store.Provider == StoreProvider.Sqlite))
            .ToList();

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

        if (gone.Count > 0)
        {
            await db.GatewayInstances.Where(i => gone.Contains(i.Id)).ExecuteDeleteAsync(cancellationToken);
            foreach (var id in gone)
            {
                LogInstanceGone(logger, id, leases.Count(l => QuotaLedger.LeaseInstance(l.RequestId) == id));
            }
        }

        return open.Count;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(HeartbeatInterval, time);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await using (var db = await dbFactory.CreateDbContextAsync(stoppingToken))
                    {
                        var now = time.GetUtcNow().UtcDateTime;
                        if (await db.GatewayInstances.Where(i => i.Id == ledger.InstanceId)
                                .ExecuteUpdateAsync(s => s.SetProperty(i => i.HeartbeatAt, now), stoppingToken) == 0)
                        {
                            // Taken for gone (a pause longer than the bound): its leases were released; say so, and beat on.
                            LogDeclaredGone(logger, ledger.InstanceId);
                            db.GatewayInstances.Add(new GatewayInstance { Id = ledger.InstanceId, Host = Environment.MachineName, StartedAt = now, HeartbeatAt = now });
                            await db.SaveChangesAsync(stoppingToken);
                        }
                    }

                    var released = await ReleaseAsync(atStart: false, stoppingToken);
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

    [LoggerMessage(EventId = 3102, Level = LogLevel.Warning, Message = "Released {Count} reservations nobody can settle any more")]
    private static partial void LogReleasedExpired(ILogger logger, int count);

    [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Releasing reservations or writing the heartbeat failed; retrying")]
    private static partial void LogReconcileFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3104, Level = LogLevel.Warning, Message = "Gateway instance {InstanceId} stopped heart-beating; released its {Leases} leases")]
    private static partial void LogInstanceGone(ILogger logger, string instanceId, int leases);

    [LoggerMessage(EventId = 3105, Level = LogLevel.Error, Message = "This instance ({InstanceId}) was taken for gone by another; its leases were released")]
    private static partial void LogDeclaredGone(ILogger logger, string instanceId);
}
