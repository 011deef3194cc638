using Microsoft.EntityFrameworkCore;

namespace TokenPool.Data;

/// <summary>Told about configuration changes so it can drop or reload what it caches.</summary>
internal interface IChangeListener
{
    void OnChanged(IReadOnlyList<ChangeLogEntry> changes);
}

/// <summary>
/// Follows <c>change_log</c>. Every instance polls it once a second (an indexed max lookup), so a change
/// written by any process, the CLI included, reaches every running gateway within about a second.
/// Writers in this process call <see cref="Poke(ChangeLogEntry)"/> to apply their own change at once.
/// </summary>
internal sealed partial class ChangeFeed(
    IDbContextFactory<TokenPoolDb> dbFactory,
    IServiceProvider services,
    ILogger<ChangeFeed> logger) : BackgroundService
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private readonly SemaphoreSlim _wake = new(0, 1);
    // Resolved on first use: listeners themselves write changes through this feed.
    private IChangeListener[]? _listeners;
    private long _lastSeq = -1;

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
        _listeners ??= [.. services.GetServices<IChangeListener>()];
        foreach (var listener in _listeners)
        {
            listener.OnChanged(changes);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
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

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Reading the change log failed; retrying")]
    private static partial void LogPollFailed(ILogger logger, Exception exception);
}
