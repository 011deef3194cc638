using System.Collections.Concurrent;
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
///     reserved_micros == sum(reservations.amount_micros)              holds only for requests in flight
///     balance_micros  == credited_micros - charged_micros - reserved_micros
///     balance_micros  &gt;= -overdraft                                   no account spends beyond its bound
///   per key:
///     charged_micros  == sum(usage_records.charged_micros of the key)
///     reserved_micros == sum(reservations.amount_micros of the key)
///     charged_micros  &lt;= spend_limit_micros + overdraft               when the key has a limit
///   per request:
///     at most one reservation; settled at most once (the DELETE of its reservation row decides);
///     0 &lt;= charged &lt;= cost, so a request never credits anyone, whatever usage the upstream reported;
///     after settlement no reservation of it is open; a reservation whose process died is released
///     by <see cref="ReservationReconciler"/> with nothing charged.
/// </code>
/// Hence, once nothing is in flight: balance = credits - sum of settled costs, for every account.
///
/// A reservation is one transaction on the single writer: the key row (still active, not expired, spend
/// limit not exceeded), the account row (enabled, balance covers the amount) and the reservation row
/// change together or not at all. Because the check and the hold are the same conditional UPDATE, no
/// number of concurrent requests can reserve more than the balance.
/// </summary>
internal sealed class QuotaLedger(Database database, IOptions<BillingOptions> options)
{
    private readonly ConcurrentQueue<PendingReservation> _pending = new();

    public long OverdraftMicros { get; } = options.Value.OverdraftMicros;

    /// <summary>
    /// Reserves <paramref name="amountMicros"/> for one request. Requests that arrive while the writer is
    /// busy are reserved together in one transaction by whichever of them takes the write lock next (a
    /// group commit), each with its own checks, so concurrent traffic pays for one commit per batch rather
    /// than one per request. Once queued, a reservation is carried out even if the caller is cancelled; the
    /// caller settles it like any other.
    /// </summary>
    public async ValueTask<ReserveOutcome> ReserveAsync(
        string requestId, KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amountMicros);
        cancellationToken.ThrowIfCancellationRequested();
        var pending = new PendingReservation(requestId, key, amountMicros, now, expiresAt);
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

    /// <summary>Reserves everything queued in one transaction. Call only while holding the write lock.</summary>
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
                batch[i].Outcome.TrySetResult(outcomes[i].Outcome);
            }
        }
    }

    /// <summary>
    /// One request's reservation inside the batch's transaction: the key row, the account row and the
    /// reservation row change together or, by compensating in the same transaction, not at all.
    /// </summary>
    private ReserveOutcome ReserveOne(SqliteConnection connection, SqliteTransaction transaction, PendingReservation pending)
    {
        var (requestId, key, amountMicros, now, expiresAt) = pending;
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
            WHERE id = $account AND is_disabled = $false AND balance_micros >= $amount
            """, ("$amount", amountMicros), ("$account", key.AccountId), ("$false", false));
        if (reserveAccount.ExecuteNonQuery() == 0)
        {
            ReleaseKey(transaction, key.KeyId, amountMicros);
            return AccountDisabled(connection, transaction, key.AccountId) ? ReserveOutcome.AccountDisabled : ReserveOutcome.InsufficientQuota;
        }

        var insert = database.WriterStatement(transaction, """
            INSERT INTO reservations (request_id, account_id, key_id, amount_micros, created_at, expires_at)
            VALUES ($id, $account, $key, $amount, $now, $expires)
            """, ("$id", requestId), ("$account", key.AccountId), ("$key", key.KeyId), ("$amount", amountMicros), ("$now", now), ("$expires", expiresAt));
        try
        {
            insert.ExecuteNonQuery();
        }
        catch (SqliteException)
        {
            // SQLite undid the failed statement alone; undo this request's two updates as well.
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
}

/// <summary>A reservation waiting for the next group commit, and where its outcome goes.</summary>
internal sealed record PendingReservation(string RequestId, KeyIdentity Key, long AmountMicros, DateTime Now, DateTime ExpiresAt)
{
    public TaskCompletionSource<ReserveOutcome> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
