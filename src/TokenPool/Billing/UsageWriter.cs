using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>A finished request waiting to be written: its usage record and what it held from its key's lease.</summary>
internal sealed record Settlement(UsageRecord Record, long ReservedMicros, bool HasReservation);

/// <summary>
/// Writes usage records and settles what requests held, off the request path, in batches, on the single
/// writer. Settling is idempotent per request id: a request whose usage record exists is settled already and
/// moves no money again. Records queued at shutdown are written after the server has stopped taking
/// requests, and the leases' unused room is returned after them, so a normal shutdown loses nothing.
/// </summary>
internal sealed partial class UsageWriter(Database database, QuotaLedger ledger, IOptions<BillingOptions> options, ILogger<UsageWriter> logger)
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
    private long _enqueued;
    private long _written;

    /// <summary>Usage records queued and not yet written.</summary>
    public long QueueLength => Math.Max(0, Interlocked.Read(ref _enqueued) - Interlocked.Read(ref _written));

    /// <summary>Queues a finished request. Waits only when 100,000 records are already waiting.</summary>
    public ValueTask EnqueueAsync(Settlement settlement)
    {
        Interlocked.Increment(ref _enqueued);
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
        await database.WriteLock.WaitAsync(cancellationToken);
        try
        {
            WriteBatch(settlements);
        }
        finally
        {
            database.WriteLock.Release();
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = Task.Run(RunAsync, CancellationToken.None);
        return Task.CompletedTask;
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
    /// Settles a batch in one transaction. Each request's reservation is deleted and its usage record
    /// inserted one by one (that is what makes settling idempotent), while the money each settlement moves
    /// is worked out in memory from balances read once per batch, and written as one update per account,
    /// per key and per daily rollup row. Holding the single writer, nothing else changes those rows meanwhile,
    /// so this is exactly what settling one request after another would write.
    /// </summary>
    private void WriteBatch(IReadOnlyList<Settlement> batch)
    {
        var connection = database.Writer;
        var totals = new BatchTotals();
        try
        {
            using var transaction = connection.BeginTransaction();
            foreach (var settlement in batch)
            {
                Settle(transaction, settlement, totals);
            }

            WriteTotals(transaction, totals);
            transaction.Commit();
        }
        catch
        {
            // Lease room taken for this batch is still reserved in the store: it goes back with the next return.
            totals.TakenFromLeases.ForEach(taken => taken.Lease.ReturnFailed(taken.Amount));
            throw;
        }
    }

    private void Settle(SqliteTransaction transaction, Settlement settlement, BatchTotals totals)
    {
        var record = settlement.Record;
        record.ChargedMicros = 0;
        if (!settlement.HasReservation)
        {
            if (InsertRecord(record))
            {
                var unbilled = totals.Keys.GetValueOrDefault(record.KeyId) ?? new KeyTotals();
                totals.Keys[record.KeyId] = unbilled with { LastUsedAt = Later(unbilled.LastUsedAt, record.CreatedAt) };
            }

            return;
        }

        var account = totals.Accounts.TryGetValue(record.AccountId, out var knownAccount)
            ? knownAccount
            : new AccountTotals(Scalar(transaction, "SELECT balance_micros FROM accounts WHERE id = $id", ("$id", record.AccountId)));
        var key = totals.Keys.GetValueOrDefault(record.KeyId) ?? new KeyTotals();
        if (!key.RoomRead)
        {
            key = key with
            {
                RoomRead = true,
                Room = database.WriterStatement(transaction,
                    "SELECT spend_limit_micros - charged_micros - reserved_micros FROM api_keys WHERE id = $id AND spend_limit_micros IS NOT NULL",
                    [("$id", record.KeyId)]).ExecuteScalar() as long?,
            };
        }

        totals.Accounts[record.AccountId] = account;
        totals.Keys[record.KeyId] = key;
        var reserved = settlement.ReservedMicros;
        var leaseId = ledger.LeaseId(record.AccountId, record.KeyId);
        var lease = LeaseRow(transaction, totals, leaseId);
        if (lease.Remaining < reserved)
        {
            // The lease was released (by reconciliation, after its expiry): nothing is held, so nothing is charged.
            record.Note = record.Note is null ? LeaseReleasedNote : record.Note + " " + LeaseReleasedNote;
            if (InsertRecord(record))
            {
                LogLeaseReleased(logger, record.RequestId);
            }
            else
            {
                LogAlreadySettled(logger, record.RequestId);
            }

            return;
        }

        var charge = Charge(record.CostMicros, account, key, reserved);
        if (charge < record.CostMicros && totals.AccountsDrained.Add(record.AccountId))
        {
            // The answer cost more than the room the store shows; room this gateway holds in the account's leases
            // and no request needs is the account's too, so it goes back to the balance first.
            foreach (var (unused, amount) in ledger.TakeUnused(record.AccountId))
            {
                totals.TakenFromLeases.Add((unused, amount));
                ApplyHeld(transaction, totals, unused.Id);
                if (ledger.Release(transaction, unused.Id, unused.AccountId, unused.KeyId, amount)
                    && totals.LeaseRows.TryGetValue(unused.Id, out var row))
                {
                    totals.LeaseRows[unused.Id] = row with { Remaining = row.Remaining - amount };
                }

                account = totals.Accounts[record.AccountId] = account with { Balance = account.Balance + amount };
                if (totals.Keys.TryGetValue(unused.KeyId, out var leaseKey) && leaseKey.Room is { } room)
                {
                    totals.Keys[unused.KeyId] = leaseKey with { Room = room + amount };
                }
            }

            key = totals.Keys[record.KeyId];
            lease = totals.LeaseRows[leaseId];
            charge = Charge(record.CostMicros, account, key, reserved);
        }

        record.ChargedMicros = charge;

        // The record's request id decides: a request whose record exists is settled already, and money moves once only.
        if (!InsertRecord(record))
        {
            record.ChargedMicros = 0;
            LogAlreadySettled(logger, record.RequestId);
            return;
        }

        totals.LeaseRows[leaseId] = new LeaseRowTotals(lease.Remaining - reserved, lease.Held + reserved);
        totals.Accounts[record.AccountId] = account with
        {
            Balance = account.Balance + reserved - charge,
            Released = account.Released + reserved,
            Charged = account.Charged + charge,
        };
        totals.Keys[record.KeyId] = key with
        {
            Room = key.Room + reserved - charge,
            Released = key.Released + reserved,
            Charged = key.Charged + charge,
            LastUsedAt = Later(key.LastUsedAt, record.CreatedAt),
        };

        if (record.Model.Length > 0)
        {
            var day = new DailyKey(DateOnly.FromDateTime(record.CreatedAt), record.AccountId, record.KeyId, record.Model);
            var sums = totals.Daily.TryGetValue(day, out var known) ? known : default;
            totals.Daily[day] = new DailySums(sums.Requests + 1, sums.Input + record.InputTokens, sums.Cached + record.CachedInputTokens,
                sums.Output + record.OutputTokens, sums.Reasoning + record.ReasoningTokens, sums.Charged + record.ChargedMicros);
        }
    }

    /// <summary>
    /// What to charge: the cost, within what the account's balance allows and, when the key has a spend limit, what
    /// its limit allows (the same bound for both).
    /// </summary>
    private long Charge(long costMicros, AccountTotals account, KeyTotals key, long reservedMicros)
    {
        var charge = QuotaLedger.ChargeWithinBound(costMicros, account.Balance, reservedMicros, _overdraftMicros);
        return key.Room is { } keyRoom ? QuotaLedger.ChargeWithinBound(charge, keyRoom, reservedMicros, _overdraftMicros) : charge;
    }

    /// <summary>Inserts the usage record; false when the request has one already.</summary>
    private bool InsertRecord(UsageRecord record) =>
        database.WriterPrepared("""
            INSERT INTO usage_records (request_id, created_at, account_id, key_id, channel_id, channel_key_id, model, endpoint,
                is_stream, status, outcome, error_code, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,
                is_estimated, cost_micros, charged_micros, input_micros_per_million, cached_input_micros_per_million,
                output_micros_per_million, latency_ms, first_token_ms, attempts, note)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)
            ON CONFLICT (request_id) DO NOTHING
            """)
            .Bind(1, record.RequestId).Bind(2, record.CreatedAt).Bind(3, record.AccountId).Bind(4, record.KeyId)
            .Bind(5, record.ChannelId).Bind(6, record.ChannelKeyId).Bind(7, record.Model).Bind(8, record.Endpoint)
            .Bind(9, record.IsStream).Bind(10, record.Status).Bind(11, record.Outcome).Bind(12, record.ErrorCode)
            .Bind(13, record.InputTokens).Bind(14, record.CachedInputTokens).Bind(15, record.OutputTokens).Bind(16, record.ReasoningTokens)
            .Bind(17, record.IsEstimated).Bind(18, record.CostMicros).Bind(19, record.ChargedMicros)
            .Bind(20, record.InputMicrosPerMillion).Bind(21, record.CachedInputMicrosPerMillion).Bind(22, record.OutputMicrosPerMillion)
            .Bind(23, record.LatencyMs).Bind(24, record.FirstTokenMs).Bind(25, record.Attempts).Bind(26, record.Note)
            .Execute() == 1;

    private void WriteTotals(SqliteTransaction transaction, BatchTotals totals)
    {
        foreach (var (accountId, account) in totals.Accounts)
        {
            Execute(transaction, """
                UPDATE accounts SET balance_micros = balance_micros + $released - $charged,
                    reserved_micros = reserved_micros - $released, charged_micros = charged_micros + $charged
                WHERE id = $account
                """, ("$released", account.Released), ("$charged", account.Charged), ("$account", accountId));
        }

        foreach (var (keyId, key) in totals.Keys)
        {
            Execute(transaction, """
                UPDATE api_keys SET reserved_micros = reserved_micros - $released, charged_micros = charged_micros + $charged,
                    last_used_at = $at
                WHERE id = $key
                """, ("$released", key.Released), ("$charged", key.Charged), ("$key", keyId), ("$at", key.LastUsedAt));
        }

        foreach (var leaseId in totals.LeaseRows.Keys.ToList())
        {
            ApplyHeld(transaction, totals, leaseId);
            ledger.DeleteIfEmpty(transaction, leaseId);
        }

        foreach (var (day, sums) in totals.Daily)
        {
            Execute(transaction, """
                INSERT INTO usage_daily (day, account_id, key_id, model, requests, input_tokens, cached_input_tokens,
                    output_tokens, reasoning_tokens, charged_micros)
                VALUES ($day, $account, $key, $model, $requests, $input, $cached, $output, $reasoning, $charged)
                ON CONFLICT (account_id, day, key_id, model) DO UPDATE SET
                    requests = requests + excluded.requests,
                    input_tokens = input_tokens + excluded.input_tokens,
                    cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
                    output_tokens = output_tokens + excluded.output_tokens,
                    reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
                    charged_micros = charged_micros + excluded.charged_micros
                """,
                ("$day", day.Day), ("$account", day.AccountId), ("$key", day.KeyId), ("$model", day.Model),
                ("$requests", sums.Requests), ("$input", sums.Input), ("$cached", sums.Cached), ("$output", sums.Output),
                ("$reasoning", sums.Reasoning), ("$charged", sums.Charged));
        }
    }

    /// <summary>
    /// A lease row as this batch finds it: read once, then kept in memory while the batch settles requests against it
    /// (holding the single writer, nothing else changes it meanwhile).
    /// </summary>
    private LeaseRowTotals LeaseRow(SqliteTransaction transaction, BatchTotals totals, string leaseId)
    {
        if (!totals.LeaseRows.TryGetValue(leaseId, out var row))
        {
            row = new LeaseRowTotals(Scalar(transaction, "SELECT amount_micros FROM reservations WHERE request_id = $id", ("$id", leaseId)), 0);
            totals.LeaseRows[leaseId] = row;
        }

        return row;
    }

    /// <summary>Takes what this batch's settled requests held off their lease row, in one statement per row.</summary>
    private void ApplyHeld(SqliteTransaction transaction, BatchTotals totals, string leaseId)
    {
        if (totals.LeaseRows.TryGetValue(leaseId, out var row) && row.Held > 0)
        {
            if (!ledger.Shrink(transaction, leaseId, row.Held))
            {
                throw new InvalidOperationException($"The lease row {leaseId} holds less than its settled requests took from it.");
            }

            totals.LeaseRows[leaseId] = row with { Held = 0 };
        }
    }

    private static DateTime? Later(DateTime? known, DateTime at) => known is { } value && value > at ? value : at;

    private int Execute(SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters) =>
        database.WriterStatement(transaction, sql, parameters).ExecuteNonQuery();

    private long Scalar(SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters) =>
        database.WriterStatement(transaction, sql, parameters).ExecuteScalar() is long value ? value : 0;

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
}

/// <summary>What one settlement batch moves on an account: its balance as the batch goes, and the sums to write.</summary>
internal sealed record AccountTotals(long Balance)
{
    public long Released { get; init; }

    public long Charged { get; init; }
}

/// <summary>
/// What one settlement batch moves on a key: the room left under its spend limit (null: no limit; read from
/// the store by the batch's first settlement that needs it), and the sums to write.
/// </summary>
internal sealed record KeyTotals
{
    public bool RoomRead { get; init; }

    public long? Room { get; init; }

    public long Released { get; init; }

    public long Charged { get; init; }

    public DateTime? LastUsedAt { get; init; }
}

/// <summary>
/// A lease row during a settlement batch: what it still holds in the store, less what the batch has settled
/// (<see cref="Remaining"/>), and what the batch has settled but not yet taken off the row (<see cref="Held"/>).
/// </summary>
internal readonly record struct LeaseRowTotals(long Remaining, long Held);

internal readonly record struct DailyKey(DateOnly Day, long AccountId, long KeyId, string Model);

internal readonly record struct DailySums(long Requests, long Input, long Cached, long Output, long Reasoning, long Charged);

/// <summary>The per-account, per-key and per-day sums of one settlement batch.</summary>
internal sealed class BatchTotals
{
    public Dictionary<long, AccountTotals> Accounts { get; } = [];

    public Dictionary<long, KeyTotals> Keys { get; } = [];

    public Dictionary<DailyKey, DailySums> Daily { get; } = [];

    /// <summary>The lease rows this batch settles against.</summary>
    public Dictionary<string, LeaseRowTotals> LeaseRows { get; } = new(StringComparer.Ordinal);

    /// <summary>Accounts whose leases' unused room this batch has moved back to the balance.</summary>
    public HashSet<long> AccountsDrained { get; } = [];

    /// <summary>The lease room this batch took out of memory, to give back if the batch fails.</summary>
    public List<(Lease Lease, long Amount)> TakenFromLeases { get; } = [];
}
