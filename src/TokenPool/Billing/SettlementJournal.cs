using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Options;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>
/// A durable journal of finished requests, so that <c>kill -9</c> loses no answered request's charge:
/// <list type="number">
/// <item>each finished request's settlement is appended (one JSON line) as it is queued for the batched writer;</item>
/// <item>every <see cref="FlushInterval"/> the appended lines are written to <c>settlements.journal</c> in the data folder
/// and synced to disk together (a group commit), so a request is durable at most about 20 ms plus one sync after it
/// finished;</item>
/// <item>once everything journaled is in the store, the journal is emptied;</item>
/// <item>at the next start, before the leases of the dead process are released, every journaled settlement is settled
/// against the lease it held from (the request id makes it idempotent: one already in the store moves no money).</item>
/// </list>
/// </summary>
internal sealed partial class SettlementJournal(IOptions<StoreOptions> store, ILogger<SettlementJournal> logger) : IDisposable
{
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(20);

    private readonly string _path = Path.Combine(store.Value.FullDataDirectory, "settlements.journal");
    private readonly ConcurrentQueue<string> _pending = new();
    private readonly Lock _fileLock = new();
    private FileStream? _file;

    /// <summary>Queues one settlement for the next group commit.</summary>
    public void Append(Settlement settlement, string leaseId) =>
        _pending.Enqueue(JsonSerializer.Serialize(new JournalEntry(settlement.Record, settlement.ReservedMicros, settlement.HasReservation, leaseId)));

    /// <summary>Writes and syncs what is queued; then, when <paramref name="allSettled"/> says everything journaled is in the store, empties the file.</summary>
    public void Flush(Func<bool> allSettled)
    {
        lock (_fileLock)
        {
            _file ??= new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read, 1 << 16, FileOptions.None);
            var wrote = false;
            while (_pending.TryDequeue(out var line))
            {
                _file.Write(Encoding.UTF8.GetBytes(line + "\n"));
                wrote = true;
            }

            if (wrote)
            {
                _file.Flush(flushToDisk: true);
            }

            if (_file.Length > 0 && _pending.IsEmpty && allSettled())
            {
                _file.SetLength(0);
                _file.Flush(flushToDisk: true);
            }
        }
    }

    /// <summary>The settlements journaled by a process that did not empty its journal (it was killed), with their leases.</summary>
    public IReadOnlyList<(Settlement Settlement, string LeaseId)> ReadLeftOver()
    {
        lock (_fileLock)
        {
            if (!File.Exists(_path))
            {
                return [];
            }

            var entries = new List<(Settlement, string)>();
            foreach (var line in File.ReadLines(_path))
            {
                try
                {
                    if (JsonSerializer.Deserialize<JournalEntry>(line) is { } entry)
                    {
                        entries.Add((new Settlement(entry.Record, entry.ReservedMicros, entry.HasReservation) { LeaseId = entry.LeaseId }, entry.LeaseId));
                    }
                }
                catch (JsonException)
                {
                    // The last line of a process killed while writing it: that request had not finished its sync.
                    LogTornLine(logger);
                }
            }

            return entries;
        }
    }

    /// <summary>Empties the journal once what it held is settled.</summary>
    public void Clear()
    {
        lock (_fileLock)
        {
            _file?.Dispose();
            _file = null;
            File.WriteAllBytes(_path, []);
        }
    }

    public void Dispose()
    {
        lock (_fileLock)
        {
            _file?.Dispose();
            _file = null;
        }
    }

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "The settlement journal ended in a torn line; it was skipped")]
    private static partial void LogTornLine(ILogger logger);

    private sealed record JournalEntry(UsageRecord Record, long ReservedMicros, bool HasReservation, string LeaseId);
}
