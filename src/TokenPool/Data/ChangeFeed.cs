using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace TokenPool.Data;

/// <summary>Told about configuration changes so it can drop or reload what it caches.</summary>
internal interface IChangeListener
{
    void OnChanged(IReadOnlyList<ChangeLogEntry> changes);
}

/// <summary>
/// Follows <c>change_log</c>. Every instance polls it once a second (an indexed lookup), so a change
/// written by any process, the CLI included, reaches every running gateway within about a second.
/// Writers in this process call <see cref="Poke(ChangeLogEntry)"/> to apply their own change at once.
/// On PostgreSQL, where several processes write at once, a change can commit after one with a later sequence number;
/// the feed therefore follows the transactions, not the numbers: it reads the changes of transactions that finished
/// before its snapshot (<c>tx_id</c> below the snapshot's oldest running transaction) and next time starts from there,
/// so none is skipped; and it LISTENs for the NOTIFY each committed change sends, so changes arrive at once, the
/// poll being the catch-up.
/// </summary>
internal sealed partial class ChangeFeed(
    IDbContextFactory<TokenPoolDb> dbFactory,
    StoreConnection store,
    IServiceProvider services,
    ILogger<ChangeFeed> logger) : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _wake = new(0, 1);
    // Resolved on first use: listeners themselves write changes through this feed.
    private IChangeListener[]? _listeners;
    private long _lastSeq = -1;

    // Changes this process applied itself when it saved them; the feed does not apply them a second time.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, bool> _appliedHere = new();

    // PostgreSQL: the oldest transaction still running at the last read; every change of an older one has been applied.
    private string? _cursor;

    public static ChangeLogEntry Record(TokenPoolDb db, string kind, long? entityId)
    {
        var entry = new ChangeLogEntry { Kind = kind, EntityId = entityId, CreatedAt = DateTime.UtcNow };
        db.ChangeLog.Add(entry);
        return entry;
    }

    /// <summary>
    /// Applies a key or account change this process has just saved before returning, so that, for example,
    /// a key deleted in the console is refused by the very next request; other changes apply at the next poll,
    /// which this call brings forward.
    /// </summary>
    public void Poke(ChangeLogEntry saved)
    {
        if (saved.Kind is ChangeKinds.Key or ChangeKinds.Account)
        {
            if (saved.Seq > 0)
            {
                _appliedHere[saved.Seq] = true;
            }

            _listeners ??= [.. services.GetServices<IChangeListener>()];
            foreach (var listener in _listeners)
            {
                listener.OnChanged([saved]);
            }
        }

        Poke();
    }

    public void Poke()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // A poll is already due.
        }
    }

    /// <summary>Reads and applies every change not seen yet; returns when they are applied.</summary>
    public async Task PollOnceAsync(CancellationToken cancellationToken)
    {
        if (store.Provider == StoreProvider.Postgres)
        {
            await PollPostgresAsync(cancellationToken);
            return;
        }

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        if (_lastSeq < 0)
        {
            _lastSeq = await db.ChangeLog.MaxAsync(c => (long?)c.Seq, cancellationToken) ?? 0;
            return;
        }

        var changes = await db.ChangeLog.AsNoTracking()
            .Where(c => c.Seq > _lastSeq)
            .OrderBy(c => c.Seq)
            .Take(1000)
            .ToListAsync(cancellationToken);
        if (changes.Count == 0)
        {
            return;
        }

        _lastSeq = changes[^1].Seq;
        Apply(changes);
    }

    /// <summary>Hands the changes read from the log to every listener, less those this process applied when it saved them.</summary>
    private void Apply(List<ChangeLogEntry> changes)
    {
        changes.RemoveAll(c => _appliedHere.TryRemove(c.Seq, out _));
        if (changes.Count == 0)
        {
            return;
        }

        _listeners ??= [.. services.GetServices<IChangeListener>()];
        foreach (var listener in _listeners)
        {
            listener.OnChanged(changes);
        }
    }

    private async Task PollPostgresAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var connection = (NpgsqlConnection)db.Database.GetDbConnection();
        await connection.OpenAsync(cancellationToken);

        // One statement, one snapshot: the changes read and the new cursor agree.
        await using var command = new NpgsqlCommand("""
            WITH s AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
            SELECT s.xmin::text, c.seq, c.kind, c.entity_id, c.created_at
            FROM s LEFT JOIN change_log c ON $1::text IS NOT NULL AND c.tx_id >= $1::xid8 AND c.tx_id < s.xmin
            ORDER BY c.tx_id, c.seq
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text, Value = (object?)_cursor ?? DBNull.Value });
        var changes = new List<ChangeLogEntry>();
        string? cursor = null;
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                cursor = reader.GetString(0);
                if (!reader.IsDBNull(1))
                {
                    changes.Add(new ChangeLogEntry
                    {
                        Seq = reader.GetInt64(1),
                        Kind = reader.GetString(2),
                        EntityId = reader.IsDBNull(3) ? null : reader.GetInt64(3),
                        CreatedAt = reader.GetDateTime(4),
                    });
                }
            }
        }

        var first = _cursor is null;
        _cursor = cursor;
        if (first || changes.Count == 0)
        {
            return;
        }

        _lastSeq = Math.Max(_lastSeq, changes.Max(c => c.Seq));
        Apply(changes);
    }

    /// <summary>PostgreSQL: wakes the feed whenever another process commits a change (NOTIFY), reconnecting after a failure.</summary>
    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(store.ConnectionString) { KeepAlive = 15 }.ConnectionString);
                await connection.OpenAsync(stoppingToken);
                connection.Notification += (_, _) => Poke();
                await using (var listen = new NpgsqlCommand("LISTEN tokenpool_changes", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                // Whatever committed while not listening is read now.
                Poke();
                while (!stoppingToken.IsCancellationRequested)
                {
                    await connection.WaitAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogListenFailed(logger, ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listening = store.Provider == StoreProvider.Postgres ? ListenAsync(stoppingToken) : Task.CompletedTask;
        await PollLoopAsync(stoppingToken);
        await listening;
    }

    private async Task PollLoopAsync(CancellationToken stoppingToken)
    {
        var lastPrune = DateTime.UtcNow;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await PollOnceAsync(stoppingToken);
                if (DateTime.UtcNow - lastPrune > TimeSpan.FromHours(1))
                {
                    lastPrune = DateTime.UtcNow;
                    await PruneAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogPollFailed(logger, ex);
            }

            try
            {
                await _wake.WaitAsync(PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task PruneAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var cutoff = DateTime.UtcNow.AddDays(-1);
        await db.ChangeLog.Where(c => c.CreatedAt < cutoff && c.Seq < _lastSeq).ExecuteDeleteAsync(cancellationToken);
    }

    [LoggerMessage(EventId = 1002, Level = LogLevel.Warning, Message = "Listening for changes on PostgreSQL failed; reconnecting (changes still arrive by the poll meanwhile)")]
    private static partial void LogListenFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Reading the change log failed; retrying")]
    private static partial void LogPollFailed(ILogger logger, Exception exception);
}
