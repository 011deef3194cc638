using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;
using TokenPool.Data;
using TokenPool.Keys;

namespace TokenPool.Billing;

internal enum ReserveOutcome
{
    Reserved,

    /// <summary>The key is deleted, disabled or expired (the key row says which).</summary>
    KeyRefused,

    /// <summary>The key's own spend limit has no room for this request.</summary>
    KeySpendLimit,

    AccountDisabled,

    /// <summary>The account balance has no room for this request.</summary>
    InsufficientQuota,
}

/// <summary>
/// Holds and releases money for requests. THE MONEY INVARIANT, which every change to balances keeps and
/// <see cref="MoneyInvariant"/> checks against the store (the tests run it after every concurrency and
/// fault scenario):
/// <code>
///   per account:
///     credited_micros == sum(ledger.amount_micros)                    credit comes only from the ledger
///     charged_micros  == sum(usage_records.charged_micros)            charges only from settled requests
///     reserved_micros == sum(reservations.amount_micros)              holds only in leases
///     balance_micros  == credited_micros - charged_micros - reserved_micros
///     balance_micros  &gt;= -overdraft                                   no account spends beyond its bound
///   per key:
///     charged_micros  == sum(usage_records.charged_micros of the key)
///     reserved_micros == sum(reservations.amount_micros of the key)
///     charged_micros  &lt;= spend_limit_micros + overdraft               when the key has a limit
///   per lease (one reservations row per gateway instance, account and key):
///     amount_micros == what its requests in flight hold + its free room (in that instance's memory)
///   per request:
///     holds from one lease; settled at most once (its usage record's request id decides);
///     0 &lt;= charged &lt;= cost, so a request never credits anyone, whatever usage the upstream reported;
///     a lease whose instance died is released by <see cref="ReservationReconciler"/>, and requests that were
///     in flight in it are charged nothing.
/// </code>
/// Hence, once nothing is in flight and leases are returned: balance = credits - sum of settled costs.
///
/// A lease top-up is one transaction on the single writer: the key row (still active, not expired, spend
/// limit not exceeded), the account row (enabled, balance covers the amount) and the lease row change
/// together or not at all. Because the check and the hold are the same conditional UPDATE, no number of
/// concurrent requests, in this process or any other, can reserve more than the balance. A request whose
/// reserve its lease's free room covers holds it in memory without touching the store; a top-up reserves
/// room for <see cref="BillingOptions.LeaseRequests"/> such requests at once, or exactly what is needed when
/// the balance or the key's limit has less; unused room goes back to the balance when the key has been idle
/// for <see cref="BillingOptions.LeaseIdleSeconds"/>, when the key or account changes, and at shutdown.
/// </summary>
internal sealed partial class QuotaLedger(Database database, IOptions<BillingOptions> options, ILogger<QuotaLedger> logger) : IChangeListener
{
    private const string LeasePrefix = "lease_";

    /// <summary>A lease row outlives the latest request that holds from it by this much, so its expiry is rarely moved.</summary>
    private static readonly TimeSpan ExpirySlack = TimeSpan.FromMinutes(10);

    private readonly ConcurrentQueue<PendingReservation> _pending = new();
    private readonly ConcurrentDictionary<(long AccountId, long KeyId), Lease> _leases = new();
    private readonly int _leaseRequests = options.Value.LeaseRequests;

    /// <summary>The most a busy lease's refills grow to, in multiples of <see cref="BillingOptions.LeaseRequests"/>.</summary>
    private const int MaxRefillScale = 16;
    private readonly long _idleTicks = options.Value.LeaseIdleSeconds * 1000L;
    private long _topUps;

    public long OverdraftMicros { get; } = options.Value.OverdraftMicros;

    /// <summary>Names this process's leases; a new one each start.</summary>
    public string InstanceId { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>The start of the id of every lease of this process.</summary>
    public string LeaseIdPrefix => LeasePrefix + InstanceId + "_";

    /// <summary>How many times a lease was topped up in the store since start.</summary>
    public long TopUps => Interlocked.Read(ref _topUps);

    public static bool IsLease(string reservationId) => reservationId.StartsWith(LeasePrefix, StringComparison.Ordinal);

    public string LeaseId(long accountId, long keyId) =>
        string.Create(CultureInfo.InvariantCulture, $"{LeaseIdPrefix}{accountId}_{keyId}");

    /// <summary>Leases this process holds now.</summary>
    public int LeaseCount => _leases.Count;

    /// <summary>The room this process has reserved in all its leases and no request holds.</summary>
    public long LeaseUnusedMicros
    {
        get
        {
            long unused = 0;
            foreach (var lease in _leases.Values)
            {
                unused += lease.Unused;
            }

            return unused;
        }
    }

    /// <summary>The room this process has reserved for the account (or one of its keys) and no request holds.</summary>
    public long UnusedMicros(long accountId, long? keyId = null)
    {
        long unused = 0;
        foreach (var ((account, key), lease) in _leases)
        {
            if (account == accountId && (keyId is null || key == keyId))
            {
                unused += lease.Unused;
            }
        }

        return unused;
    }

    /// <summary>
    /// Reserves <paramref name="amountMicros"/> for one request that may run until <paramref name="expiresAt"/>:
    /// from the lease's free room when it covers the amount, otherwise by topping the lease up in the store.
    /// Top-ups that arrive while the writer is busy are written together in one transaction by whichever of
    /// them takes the write lock next (a group commit), each with its own checks. Once queued, a top-up is
    /// carried out even if the caller is cancelled; what it reserved stays in the lease.
    /// </summary>
    public async ValueTask<ReserveOutcome> ReserveAsync(
        KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amountMicros);
        cancellationToken.ThrowIfCancellationRequested();
        var lease = _leases.GetOrAdd((key.AccountId, key.KeyId), static (k, ledger) => new Lease(ledger.LeaseId(k.AccountId, k.KeyId), k.AccountId, k.KeyId), this);
        if (lease.TryHold(amountMicros, expiresAt, Environment.TickCount64, out var freeAfter))
        {
            // Running low: top the lease up now, off this request's path, so that the next requests need not wait for it.
            if (_leaseRequests >= 4 && freeAfter < SaturatingProduct(amountMicros, _leaseRequests / 4 * lease.RefillScale) && !lease.RefillRefused
                && lease.TopUpGate.Wait(0, CancellationToken.None))
            {
                _ = RefillAsync(lease, key, amountMicros, now, expiresAt);
            }

            return ReserveOutcome.Reserved;
        }

        await lease.TopUpGate.WaitAsync(cancellationToken);
        try
        {
            return lease.TryHold(amountMicros, expiresAt, Environment.TickCount64, out _)
                ? ReserveOutcome.Reserved
                : await TopUpAsync(lease, key, amountMicros, now, expiresAt);
        }
        finally
        {
            lease.TopUpGate.Release();
        }
    }

    /// <summary>
    /// Adds room for <see cref="BillingOptions.LeaseRequests"/> more requests like this one to a lease that runs low.
    /// Called holding the lease's gate, which it releases. A refusal (no balance or limit room for that much) stops
    /// refills until a request tops the lease up itself, exactly as it would without refills.
    /// </summary>
    private async Task RefillAsync(Lease lease, KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt)
    {
        try
        {
            var generation = lease.Generation;
            var added = SaturatingProduct(amountMicros, _leaseRequests * lease.NoteRefill(Environment.TickCount64, MaxRefillScale));
            var until = LeaseUntil(lease, expiresAt);
            if (await WriteTopUpAsync(lease, key, added, now, until, Applied(lease, generation, claimed: 0, added, held: 0, until)) != ReserveOutcome.Reserved)
            {
                lease.RefillRefused = true;
            }
        }
        catch (Exception ex)
        {
            lease.RefillRefused = true;
            LogRefillFailed(logger, lease.Id, ex);
        }
        finally
        {
            lease.TopUpGate.Release();
        }
    }

    /// <summary>Tops the lease up by enough for this request and, when the balance and limits allow, for many more like it.</summary>
    private async Task<ReserveOutcome> TopUpAsync(Lease lease, KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt)
    {
        var generation = lease.Generation;
        var claimed = lease.Claim();
        var need = Math.Max(0, amountMicros - claimed);
        var generous = need == 0 ? 0 : Math.Max(need, SaturatingProduct(amountMicros, _leaseRequests) - claimed);
        var until = LeaseUntil(lease, expiresAt);
        var outcome = await WriteTopUpAsync(lease, key, generous, now, until, Applied(lease, generation, claimed, generous, amountMicros, until));
        if (outcome is ReserveOutcome.InsufficientQuota or ReserveOutcome.KeySpendLimit && generous > need)
        {
            outcome = await WriteTopUpAsync(lease, key, need, now, until, Applied(lease, generation, claimed, need, amountMicros, until));
        }

        if (outcome == ReserveOutcome.InsufficientQuota && await ReturnUnusedAsync(l => l.AccountId == key.AccountId && l != lease, CancellationToken.None) > 0)
        {
            // Room this process held for the account's other keys is back in the balance; it may be enough.
            outcome = await WriteTopUpAsync(lease, key, need, now, until, Applied(lease, generation, claimed, need, amountMicros, until));
        }

        if (outcome != ReserveOutcome.Reserved)
        {
            lease.Unclaim(generation, claimed);
        }

        return outcome;
    }

    /// <summary>The lease's expiry once it covers a request that may run until <paramref name="expiresAt"/>.</summary>
    private static DateTime LeaseUntil(Lease lease, DateTime expiresAt)
    {
        var until = expiresAt + ExpirySlack;
        return lease.ExpiresAt > until ? lease.ExpiresAt : until;
    }

    /// <summary>What a committed top-up changes in memory: <paramref name="added"/> joins the claimed room, less the request's hold.</summary>
    private Action Applied(Lease lease, long generation, long claimed, long added, long held, DateTime until) => () =>
    {
        Interlocked.Increment(ref _topUps);
        lease.RefillRefused = false;
        lease.CompleteTopUp(generation, claimed, added, held, until, Environment.TickCount64);
    };

    /// <summary>Writes a top-up; <paramref name="applied"/> updates the lease in memory under the same lock, once it is committed.</summary>
    private async Task<ReserveOutcome> WriteTopUpAsync(Lease lease, KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt, Action applied)
    {
        var pending = new PendingReservation(lease.Id, key, amountMicros, now, expiresAt) { Applied = applied };
        _pending.Enqueue(pending);
        await database.WriteLock.WaitAsync(CancellationToken.None);
        try
        {
            if (!pending.Outcome.Task.IsCompleted)
            {
                ReserveQueued();
            }
        }
        finally
        {
            database.WriteLock.Release();
        }

        return await pending.Outcome.Task;
    }

    /// <summary>
    /// Gives the unused room of the chosen leases (and whatever is already returning from any lease) back to
    /// the balance, in one transaction. Returns how much went back.
    /// </summary>
    public async Task<long> ReturnUnusedAsync(Func<Lease, bool> includeFree, CancellationToken cancellationToken)
    {
        if (!_leases.Values.Any(l => l.Unused > 0))
        {
            return 0;
        }

        // Under the write lock, so that the room leaves memory and reaches the balance in the store as one step for
        // anyone who reads both (see ReadWithLeasesAsync).
        await database.WriteLock.WaitAsync(cancellationToken);
        var returns = new List<(Lease Lease, long Amount)>();
        try
        {
            var now = Environment.TickCount64;
            foreach (var lease in _leases.Values)
            {
                var amount = lease.TakeForReturn(includeFree(lease), now, _idleTicks);
                if (amount > 0)
                {
                    returns.Add((lease, amount));
                }
            }

            if (returns.Count == 0)
            {
                return 0;
            }

            using var transaction = database.Writer.BeginTransaction();
            foreach (var (lease, amount) in returns)
            {
                Release(transaction, lease.Id, lease.AccountId, lease.KeyId, amount);
            }

            transaction.Commit();
        }
        catch (Exception ex)
        {
            returns.ForEach(r => r.Lease.ReturnFailed(r.Amount));
            LogReturnFailed(logger, returns.Count, ex);
            return 0;
        }
        finally
        {
            database.WriteLock.Release();
        }

        return returns.Sum(r => r.Amount);
    }

    /// <summary>
    /// Runs <paramref name="read"/> (a read of balances from the store that adds <see cref="UnusedMicros"/>) while no
    /// top-up, return or settlement moves money between the store and the leases, so the sum is exact.
    /// </summary>
    public async Task<T> ReadWithLeasesAsync<T>(Func<Task<T>> read, CancellationToken cancellationToken)
    {
        await database.WriteLock.WaitAsync(cancellationToken);
        try
        {
            return await read();
        }
        finally
        {
            database.WriteLock.Release();
        }
    }

    /// <summary>
    /// Takes all the unused room of the account's leases out of memory, for a settlement that will move it back to
    /// the balance in its own transaction (see <see cref="Release"/>); on failure, give each back with
    /// <see cref="Lease.ReturnFailed"/>.
    /// </summary>
    public List<(Lease Lease, long Amount)> TakeUnused(long accountId)
    {
        var taken = new List<(Lease Lease, long Amount)>();
        foreach (var ((account, _), lease) in _leases)
        {
            if (account == accountId && lease.TakeForReturn(includeFree: true, 0, 0) is > 0 and var amount)
            {
                taken.Add((lease, amount));
            }
        }

        return taken;
    }

    /// <summary>Returns the room that has been idle long enough, and whatever changes of keys and accounts retired.</summary>
    public Task<long> ReturnIdleAsync(CancellationToken cancellationToken) => ReturnUnusedAsync(_ => false, cancellationToken);

    /// <summary>Returns every lease's unused room (at shutdown, and for reading exact balances in tests).</summary>
    public Task<long> ReturnAllUnusedAsync(CancellationToken cancellationToken) => ReturnUnusedAsync(_ => true, cancellationToken);

    /// <summary>
    /// Moves <paramref name="amountMicros"/> of a lease row back to the balance of its account and key, deleting
    /// the row once it holds nothing. Call only while holding the write lock. False when the row holds less.
    /// </summary>
    public bool Release(SqliteTransaction transaction, string leaseId, long accountId, long keyId, long amountMicros)
    {
        if (!Shrink(transaction, leaseId, amountMicros))
        {
            LogLeaseShort(logger, leaseId, amountMicros);
            return false;
        }

        database.WriterStatement(transaction,
            "UPDATE accounts SET balance_micros = balance_micros + $amount, reserved_micros = reserved_micros - $amount WHERE id = $account",
            ("$amount", amountMicros), ("$account", accountId)).ExecuteNonQuery();
        ReleaseKey(transaction, keyId, amountMicros);
        DeleteIfEmpty(transaction, leaseId);
        return true;
    }

    /// <summary>
    /// Takes <paramref name="amountMicros"/> off a lease row (a settled request's hold, or room going back). Call only
    /// while holding the write lock. False when the row holds less: it was released already.
    /// </summary>
    public bool Shrink(SqliteTransaction transaction, string leaseId, long amountMicros) =>
        database.WriterStatement(transaction,
            "UPDATE reservations SET amount_micros = amount_micros - $amount WHERE request_id = $id AND amount_micros >= $amount",
            ("$amount", amountMicros), ("$id", leaseId)).ExecuteNonQuery() > 0;

    /// <summary>Releases whole lease rows whose process is gone (used by reconciliation).</summary>
    public async Task ReleaseRowsAsync(IReadOnlyList<Reservation> rows, CancellationToken cancellationToken)
    {
        await database.WriteLock.WaitAsync(cancellationToken);
        try
        {
            using var transaction = database.Writer.BeginTransaction();
            foreach (var row in rows)
            {
                Release(transaction, row.RequestId, row.AccountId, row.KeyId, row.AmountMicros);
            }

            transaction.Commit();
        }
        finally
        {
            database.WriteLock.Release();
        }
    }

    /// <summary>Deletes a lease row that holds nothing. Call only while holding the write lock.</summary>
    public void DeleteIfEmpty(SqliteTransaction transaction, string leaseId) =>
        database.WriterStatement(transaction, "DELETE FROM reservations WHERE request_id = $id AND amount_micros = 0", ("$id", leaseId)).ExecuteNonQuery();

    /// <summary>
    /// A key or account changed (deleted, disabled, a new limit, new credit): the leases of it stop lending
    /// their free room at once, and it goes back to the balance, so the next request is checked in the store.
    /// </summary>
    public void OnChanged(IReadOnlyList<ChangeLogEntry> changes)
    {
        foreach (var change in changes)
        {
            Func<Lease, bool>? affected = change.Kind switch
            {
                ChangeKinds.Key => change.EntityId is { } keyId ? l => l.KeyId == keyId : _ => true,
                ChangeKinds.Account => change.EntityId is { } accountId ? l => l.AccountId == accountId : _ => true,
                _ => null,
            };
            if (affected is null)
            {
                continue;
            }

            foreach (var lease in _leases.Values)
            {
                if (affected(lease))
                {
                    lease.Retire();
                }
            }
        }
    }

    private static long SaturatingProduct(long amount, int times) =>
        amount > long.MaxValue / times ? long.MaxValue : amount * times;

    /// <summary>Writes everything queued in one transaction. Call only while holding the write lock.</summary>
    private void ReserveQueued()
    {
        var batch = new List<PendingReservation>();
        while (_pending.TryDequeue(out var queued))
        {
            batch.Add(queued);
        }

        var outcomes = new (ReserveOutcome Outcome, Exception? Error)[batch.Count];
        try
        {
            var connection = database.Writer;
            using var transaction = connection.BeginTransaction();
            for (var i = 0; i < batch.Count; i++)
            {
                try
                {
                    outcomes[i] = (ReserveOne(connection, transaction, batch[i]), null);
                }
                catch (SqliteException ex)
                {
                    outcomes[i] = (default, ex);
                }
            }

            transaction.Commit();
        }
        catch (Exception ex)
        {
            foreach (var failed in batch)
            {
                failed.Outcome.TrySetException(ex);
            }

            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            if (outcomes[i].Error is { } error)
            {
                batch[i].Outcome.TrySetException(error);
            }
            else
            {
                if (outcomes[i].Outcome == ReserveOutcome.Reserved)
                {
                    batch[i].Applied?.Invoke();
                }

                batch[i].Outcome.TrySetResult(outcomes[i].Outcome);
            }
        }
    }

    /// <summary>
    /// One top-up inside the batch's transaction: the key row, the account row and the lease row change
    /// together or, by compensating in the same transaction, not at all. A top-up of nothing only checks the
    /// key and account and moves the lease's expiry.
    /// </summary>
    private ReserveOutcome ReserveOne(SqliteConnection connection, SqliteTransaction transaction, PendingReservation pending)
    {
        var (leaseId, key, amountMicros, now, expiresAt) = pending;
        var reserveKey = database.WriterStatement(transaction, """
            UPDATE api_keys SET reserved_micros = reserved_micros + $amount
            WHERE id = $key AND status = 0 AND deleted_at IS NULL
              AND (expires_at IS NULL OR expires_at > $now)
              AND (spend_limit_micros IS NULL OR charged_micros + reserved_micros + $amount <= spend_limit_micros)
            """, ("$amount", amountMicros), ("$key", key.KeyId), ("$now", now));
        if (reserveKey.ExecuteNonQuery() == 0)
        {
            return KeyStillUsable(connection, transaction, key.KeyId, now) ? ReserveOutcome.KeySpendLimit : ReserveOutcome.KeyRefused;
        }

        var reserveAccount = database.WriterStatement(transaction, """
            UPDATE accounts SET balance_micros = balance_micros - $amount, reserved_micros = reserved_micros + $amount
            WHERE id = $account AND is_disabled = $false AND ($amount = 0 OR balance_micros >= $amount)
            """, ("$amount", amountMicros), ("$account", key.AccountId), ("$false", false));
        if (reserveAccount.ExecuteNonQuery() == 0)
        {
            ReleaseKey(transaction, key.KeyId, amountMicros);
            return AccountDisabled(connection, transaction, key.AccountId) ? ReserveOutcome.AccountDisabled : ReserveOutcome.InsufficientQuota;
        }

        var upsert = database.WriterStatement(transaction, """
            INSERT INTO reservations (request_id, account_id, key_id, amount_micros, created_at, expires_at)
            VALUES ($id, $account, $key, $amount, $now, $expires)
            ON CONFLICT (request_id) DO UPDATE SET amount_micros = amount_micros + excluded.amount_micros, expires_at = excluded.expires_at
            """, ("$id", leaseId), ("$account", key.AccountId), ("$key", key.KeyId), ("$amount", amountMicros), ("$now", now), ("$expires", expiresAt));
        try
        {
            upsert.ExecuteNonQuery();
        }
        catch (SqliteException)
        {
            // SQLite undid the failed statement alone; undo this top-up's two updates as well.
            ReleaseKey(transaction, key.KeyId, amountMicros);
            database.WriterStatement(transaction,
                "UPDATE accounts SET balance_micros = balance_micros + $amount, reserved_micros = reserved_micros - $amount WHERE id = $account",
                ("$amount", amountMicros), ("$account", key.AccountId)).ExecuteNonQuery();
            throw;
        }

        return ReserveOutcome.Reserved;
    }

    private void ReleaseKey(SqliteTransaction transaction, long keyId, long amountMicros) =>
        database.WriterStatement(transaction, "UPDATE api_keys SET reserved_micros = reserved_micros - $amount WHERE id = $key",
            ("$amount", amountMicros), ("$key", keyId)).ExecuteNonQuery();

    /// <summary>
    /// What to charge when settling: the cost, but never so much that the balance (after this request's
    /// reservation is released) falls below the overdraft bound.
    /// </summary>
    public static long ChargeWithinBound(long costMicros, long balanceMicros, long reservedMicros, long overdraftMicros)
    {
        var room = balanceMicros + reservedMicros + overdraftMicros;
        return Math.Max(0, Math.Min(costMicros, room));
    }

    private static bool KeyStillUsable(SqliteConnection connection, SqliteTransaction transaction, long keyId, DateTime now)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = """
            SELECT COUNT(*) FROM api_keys
            WHERE id = $key AND status = 0 AND deleted_at IS NULL AND (expires_at IS NULL OR expires_at > $now)
            """;
        command.Parameters.AddWithValue("$key", keyId);
        command.Parameters.AddWithValue("$now", now);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0;
    }

    private static bool AccountDisabled(SqliteConnection connection, SqliteTransaction transaction, long accountId)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT is_disabled FROM accounts WHERE id = $account";
        command.Parameters.AddWithValue("$account", accountId);
        return command.ExecuteScalar() is long disabled && disabled != 0;
    }

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "Returning the unused room of {Count} leases failed; retrying with the next return")]
    private static partial void LogReturnFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Refilling lease {LeaseId} ahead of need failed; requests will top it up themselves")]
    private static partial void LogRefillFailed(ILogger logger, string leaseId, Exception exception);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Lease {LeaseId} holds less than the {AmountMicros} micro-USD to release; it was released already")]
    private static partial void LogLeaseShort(ILogger logger, string leaseId, long amountMicros);
}

/// <summary>A lease top-up waiting for the next group commit, and where its outcome goes.</summary>
internal sealed record PendingReservation(string LeaseId, KeyIdentity Key, long AmountMicros, DateTime Now, DateTime ExpiresAt)
{
    /// <summary>What to change in memory once the top-up is committed, still under the write lock.</summary>
    public Action? Applied { get; init; }

    public TaskCompletionSource<ReserveOutcome> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
