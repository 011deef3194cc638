using System.Threading.Channels;
using Microsoft.Extensions.Options;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>A finished request waiting to be written: its usage record and what it held from its key's lease.</summary>
internal sealed record Settlement(UsageRecord Record, long ReservedMicros, bool HasReservation)
{
    /// <summary>The lease the request held from, when not this process's lease of its key (a settlement replayed from the journal).</summary>
    public string? LeaseId { get; init; }
}

/// <summary>
/// Writes usage records and settles what requests held, off the request path, in batches, through the ledger store. Settling is idempotent per request id: a request whose usage record exists is settled already and
/// moves no money again. Records queued at shutdown are written after the server has stopped taking
/// requests, and the leases' unused room is returned after them, so a normal shutdown loses nothing.
/// </summary>
internal sealed partial class UsageWriter(ILedgerStore store, QuotaLedger ledger, SettlementJournal journal, IOptions<BillingOptions> options, ILogger<UsageWriter> logger)
    : IHostedLifecycleService
{
    private readonly Channel<Settlement> _queue = Channel.CreateBounded<Settlement>(
        new BoundedChannelOptions(100_000) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private const string LeaseReleasedNote = "Its reservation was released before it finished; nothing was charged.";

    private readonly int _batchSize = options.Value.SettlementBatchSize;
    private readonly TimeSpan _delay = TimeSpan.FromMilliseconds(options.Value.SettlementDelayMilliseconds);
    private readonly long _overdraftMicros = options.Value.OverdraftMicros;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _loop;
    private Task? _journalLoop;
    private readonly CancellationTokenSource _journalStop = new();
    private long _enqueued;
    private long _written;

    /// <summary>Usage records queued and not yet written.</summary>
    public long QueueLength => Math.Max(0, Interlocked.Read(ref _enqueued) - Interlocked.Read(ref _written));

    /// <summary>Queues a finished request. Waits only when 100,000 records are already waiting.</summary>
    public ValueTask EnqueueAsync(Settlement settlement)
    {
        settlement = ledger.Finished(settlement);

        // Counted before it is journaled: the journal is emptied only when everything counted is written.
        Interlocked.Increment(ref _enqueued);
        journal.Append(settlement, ledger.LeaseId(settlement.Record.AccountId, settlement.Record.KeyId));
        return _queue.Writer.TryWrite(settlement) ? ValueTask.CompletedTask : _queue.Writer.WriteAsync(settlement);
    }

    /// <summary>Waits until everything queued before the call is written.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        var target = Interlocked.Read(ref _enqueued);
        while (Interlocked.Read(ref _written) < target)
        {
            await Task.Delay(2, cancellationToken);
        }
    }

    /// <summary>Settles one request now, bypassing the queue (used by reconciliation).</summary>
    public async Task WriteNowAsync(IReadOnlyList<Settlement> settlements, CancellationToken cancellationToken)
    {
        await store.WriteLock.WaitAsync(cancellationToken);
        try
        {
            await WriteBatchAsync(settlements);
        }
        finally
        {
            store.WriteLock.Release();
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(RunAsync, CancellationToken.None);
        _journalLoop = Task.Run(JournalAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Settles what a killed predecessor journaled and never wrote, against the leases it held from; call at start, before
    /// the predecessor's leases are released. Returns how many it found.
    /// </summary>
    public async Task<int> ReplayJournalAsync(CancellationToken cancellationToken)
    {
        var left = journal.ReadLeftOver();
        if (left.Count > 0)
        {
            await WriteNowAsync([.. left.Select(l => l.Settlement)], cancellationToken);
            LogReplayed(logger, left.Count);
        }

        journal.Clear();
        return left.Count;
    }

    private async Task JournalAsync()
    {
        while (!_journalStop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(SettlementJournal.FlushInterval, _journalStop.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            try
            {
                journal.Flush(() => Interlocked.Read(ref _written) >= Interlocked.Read(ref _enqueued));
            }
            catch (IOException ex)
            {
                LogJournalFailed(logger, ex);
            }
        }
    }

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs after the server has stopped: drains everything that is queued, then returns the leases' unused room.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        if (_loop is not null)
        {
            await _loop.WaitAsync(cancellationToken);
        }

        await _journalStop.CancelAsync();
        if (_journalLoop is not null)
        {
            await _journalLoop.WaitAsync(cancellationToken);
        }

        // Everything is written: the journal has nothing left to replay.
        journal.Flush(() => true);
        await ledger.ReturnAllUnusedAsync(cancellationToken);
    }

    private async Task RunAsync()
    {
        var batch = new List<Settlement>(_batchSize);
        var reader = _queue.Reader;
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            if (_delay > TimeSpan.Zero && reader.Count < _batchSize && !reader.Completion.IsCompleted)
            {
                await Task.Delay(_delay);
            }

            while (batch.Count < _batchSize && reader.TryRead(out var item))
            {
                batch.Add(item);
            }

            await WriteWithRetryAsync(batch);
            Interlocked.Add(ref _written, batch.Count);
            batch.Clear();
        }
    }

    private async Task WriteWithRetryAsync(List<Settlement> batch)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await WriteNowAsync(batch, CancellationToken.None);
                return;
            }
            catch (Exception ex) when (attempt < 5)
            {
                LogBatchRetry(logger, batch.Count, attempt, ex);
                await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt * attempt));
            }
            catch (Exception ex)
            {
                // Write what can be written one by one; report the rest.
                LogBatchFailed(logger, batch.Count, ex);
                foreach (var item in batch)
                {
                    try
                    {
                        await WriteNowAsync([item], CancellationToken.None);
                    }
                    catch (Exception itemError)
                    {
                        LogRecordLost(logger, item.Record.RequestId, itemError);
                    }
                }

                return;
            }
        }
    }

    /// <summary>
    /// Settles a batch in one transaction. The store locks (or, on SQLite, holds the single writer over) the batch's
    /// accounts, keys and lease rows and shows them as they are; the money each settlement moves is then worked out in
    /// memory, one settlement after another, and written as one update per account, per key, per lease row and per
    /// daily rollup row. Nothing else changes those rows meanwhile, so this is exactly what settling one request after
    /// another would write. A request that has a usage record already is settled, and moves no money again.
    /// </summary>
    private async Task WriteBatchAsync(IReadOnlyList<Settlement> settlements)
    {
        var batch = settlements.Select(ledger.AsFinished).ToList();
        var accounts = batch.Where(s => s.HasReservation).Select(s => s.Record.AccountId).ToHashSet();
        var leases = ledger.LeaseIdsOf(accounts)
            .Concat(batch.Where(s => s.HasReservation).Select(s => s.LeaseId ?? ledger.LeaseId(s.Record.AccountId, s.Record.KeyId)))
            .ToHashSet(StringComparer.Ordinal);
        var scope = new SettlementScope(accounts, batch.Select(s => s.Record.KeyId).ToHashSet(), leases, batch.Select(s => s.Record.RequestId).ToHashSet(StringComparer.Ordinal));
        var taken = new List<(Lease Lease, long Amount)>();
        try
        {
            await store.SettleAsync(scope, view => Plan(batch, view, taken));
            ledger.Settled(scope.RequestIds, accounts);
        }
        catch
        {
            // Lease room taken for this batch is still reserved in the store: it goes back with the next return.
            taken.ForEach(t => t.Lease.ReturnFailed(t.Amount));
            throw;
        }
    }

    /// <summary>What the batch writes, worked out from the store as <paramref name="view"/> shows it.</summary>
    private SettlementPlan Plan(IReadOnlyList<Settlement> batch, SettlementView view, List<(Lease Lease, long Amount)> taken)
    {
        var plan = new SettlementPlan();
        var balances = new Dictionary<long, long>(view.Balances);
        var keyRooms = new Dictionary<long, long>(view.KeyRooms);
        var leases = new Dictionary<string, long>(view.Leases, StringComparer.Ordinal);
        var drained = new HashSet<long>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var settlement in batch)
        {
            var record = settlement.Record;
            record.ChargedMicros = 0;
            if (view.Settled.Contains(record.RequestId) || !seen.Add(record.RequestId))
            {
                LogAlreadySettled(logger, record.RequestId);
                continue;
            }

            if (!settlement.HasReservation)
            {
                plan.Records.Add(record);
                Touch(plan, record.KeyId, 0, 0, record.CreatedAt);
                continue;
            }

            var reserved = settlement.ReservedMicros;
            var leaseId = settlement.LeaseId ?? ledger.LeaseId(record.AccountId, record.KeyId);
            if (leases.GetValueOrDefault(leaseId) < reserved)
            {
                // The lease was released (by reconciliation, after its expiry): nothing is held, so nothing is charged.
                record.Note = record.Note is null ? LeaseReleasedNote : record.Note + " " + LeaseReleasedNote;
                plan.Records.Add(record);
                LogLeaseReleased(logger, record.RequestId);
                continue;
            }

            var charge = Charge(record.CostMicros, balances.GetValueOrDefault(record.AccountId), keyRooms, record.KeyId, reserved);
            if (charge < record.CostMicros && drained.Add(record.AccountId))
            {
                // The answer cost more than the room the store shows; room this gateway holds in the account's leases
                // and no request needs is the account's too, so it goes back to the balance first.
                foreach (var (unused, amount) in ledger.TakeUnused(record.AccountId))
                {
                    taken.Add((unused, amount));
                    if (leases.GetValueOrDefault(unused.Id) < amount)
                    {
                        LogLeaseShort(logger, unused.Id, amount);
                        continue;
                    }

                    leases[unused.Id] -= amount;
                    plan.LeaseTakes[unused.Id] = plan.LeaseTakes.GetValueOrDefault(unused.Id) + amount;
                    balances[record.AccountId] = balances.GetValueOrDefault(record.AccountId) + amount;
                    var account = plan.Accounts.GetValueOrDefault(unused.AccountId);
                    plan.Accounts[unused.AccountId] = account with { Released = account.Released + amount };
                    Touch(plan, unused.KeyId, amount, 0, null);
                    if (keyRooms.TryGetValue(unused.KeyId, out var unusedRoom))
                    {
                        keyRooms[unused.KeyId] = unusedRoom + amount;
                    }
                }

                charge = Charge(record.CostMicros, balances.GetValueOrDefault(record.AccountId), keyRooms, record.KeyId, reserved);
            }

            record.ChargedMicros = charge;
            plan.Records.Add(record);
            leases[leaseId] -= reserved;
            plan.LeaseTakes[leaseId] = plan.LeaseTakes.GetValueOrDefault(leaseId) + reserved;
            balances[record.AccountId] = balances.GetValueOrDefault(record.AccountId) + reserved - charge;
            var moved = plan.Accounts.GetValueOrDefault(record.AccountId);
            plan.Accounts[record.AccountId] = new MoneyMove(moved.Released + reserved, moved.Charged + charge);
            if (keyRooms.TryGetValue(record.KeyId, out var room))
            {
                keyRooms[record.KeyId] = room + reserved - charge;
            }

            Touch(plan, record.KeyId, reserved, charge, record.CreatedAt);
            if (record.Model.Length > 0)
            {
                var day = new DailyKey(DateOnly.FromDateTime(record.CreatedAt), record.AccountId, record.KeyId, record.Model);
                var sums = plan.Daily.GetValueOrDefault(day);
                plan.Daily[day] = new DailySums(sums.Requests + 1, sums.Input + record.InputTokens, sums.Cached + record.CachedInputTokens,
                    sums.Output + record.OutputTokens, sums.Reasoning + record.ReasoningTokens, sums.Charged + record.ChargedMicros);
            }
        }

        return plan;
    }

    /// <summary>Adds a release and a charge to a key's change, and moves its last use forward.</summary>
    private static void Touch(SettlementPlan plan, long keyId, long released, long charged, DateTime? at)
    {
        var move = plan.Keys.GetValueOrDefault(keyId);
        plan.Keys[keyId] = new KeyMove(move.Released + released, move.Charged + charged,
            at is { } when && (move.LastUsedAt is not { } last || when > last) ? when : move.LastUsedAt);
    }

    /// <summary>
    /// What to charge: the cost, within what the account's balance allows and, when the key has a spend limit, what
    /// its limit allows (the same bound for both).
    /// </summary>
    private long Charge(long costMicros, long balance, Dictionary<long, long> keyRooms, long keyId, long reservedMicros)
    {
        var charge = QuotaLedger.ChargeWithinBound(costMicros, balance, reservedMicros, _overdraftMicros);
        return keyRooms.TryGetValue(keyId, out var keyRoom) ? QuotaLedger.ChargeWithinBound(charge, keyRoom, reservedMicros, _overdraftMicros) : charge;
    }

    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Writing {Count} usage records failed (attempt {Attempt}); retrying")]
    private static partial void LogBatchRetry(ILogger logger, int count, int attempt, Exception exception);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Writing a batch of {Count} usage records failed repeatedly; writing them one by one")]
    private static partial void LogBatchFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Error, Message = "Usage record for request {RequestId} could not be written")]
    private static partial void LogRecordLost(ILogger logger, string requestId, Exception exception);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Request {RequestId} was already settled; nothing charged again")]
    private static partial void LogAlreadySettled(ILogger logger, string requestId);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Warning, Message = "Request {RequestId} settled after its lease was released; nothing charged")]
    private static partial void LogLeaseReleased(ILogger logger, string requestId);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Settled {Count} requests from the journal of a run that was killed")]
    private static partial void LogReplayed(ILogger logger, int count);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Error, Message = "Writing the settlement journal failed; retrying")]
    private static partial void LogJournalFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Warning, Message = "Lease {LeaseId} holds less than the {AmountMicros} micro-USD to give back; it was released already")]
    private static partial void LogLeaseShort(ILogger logger, string leaseId, long amountMicros);
}
