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
    private SqliteCommand? _reserveKey;
    private SqliteCommand? _reserveAccount;
    private SqliteCommand? _insertReservation;

    public long OverdraftMicros { get; } = options.Value.OverdraftMicros;

    public async ValueTask<ReserveOutcome> ReserveAsync(
        string requestId, KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amountMicros);
        await database.WriteLock.WaitAsync(cancellationToken);
        try
        {
            var connection = database.Writer;
            using var transaction = connection.BeginTransaction();

            var reserveKey = _reserveKey ??= Prepare(connection, """
                UPDATE api_keys SET reserved_micros = reserved_micros + $amount
                WHERE id = $key AND status = 0 AND deleted_at IS NULL
                  AND (expires_at IS NULL OR expires_at > $now)
                  AND (spend_limit_micros IS NULL OR charged_micros + reserved_micros + $amount <= spend_limit_micros)
                """, "$amount", "$key", "$now");
            reserveKey.Transaction = transaction;
            reserveKey.Parameters[0].Value = amountMicros;
            reserveKey.Parameters[1].Value = key.KeyId;
            reserveKey.Parameters[2].Value = now;
            if (reserveKey.ExecuteNonQuery() == 0)
            {
                transaction.Rollback();
                return KeyStillUsable(connection, key.KeyId, now) ? ReserveOutcome.KeySpendLimit : ReserveOutcome.KeyRefused;
            }

            var reserveAccount = _reserveAccount ??= Prepare(connection, """
                UPDATE accounts SET balance_micros = balance_micros - $amount, reserved_micros = reserved_micros + $amount
                WHERE id = $account AND is_disabled = $false AND balance_micros >= $amount
                """, "$amount", "$account", "$false");
            reserveAccount.Transaction = transaction;
            reserveAccount.Parameters[0].Value = amountMicros;
            reserveAccount.Parameters[1].Value = key.AccountId;
            reserveAccount.Parameters[2].Value = false;
            if (reserveAccount.ExecuteNonQuery() == 0)
            {
                transaction.Rollback();
                return AccountDisabled(connection, key.AccountId) ? ReserveOutcome.AccountDisabled : ReserveOutcome.InsufficientQuota;
            }

            var insert = _insertReservation ??= Prepare(connection, """
                INSERT INTO reservations (request_id, account_id, key_id, amount_micros, created_at, expires_at)
                VALUES ($id, $account, $key, $amount, $now, $expires)
                """, "$id", "$account", "$key", "$amount", "$now", "$expires");
            insert.Transaction = transaction;
            insert.Parameters[0].Value = requestId;
            insert.Parameters[1].Value = key.AccountId;
            insert.Parameters[2].Value = key.KeyId;
            insert.Parameters[3].Value = amountMicros;
            insert.Parameters[4].Value = now;
            insert.Parameters[5].Value = expiresAt;
            insert.ExecuteNonQuery();

            transaction.Commit();
            return ReserveOutcome.Reserved;
        }
        finally
        {
            database.WriteLock.Release();
        }
    }

    /// <summary>
    /// What to charge when settling: the cost, but never so much that the balance (after this request's
    /// reservation is released) falls below the overdraft bound.
    /// </summary>
    public static long ChargeWithinBound(long costMicros, long balanceMicros, long reservedMicros, long overdraftMicros)
    {
        var room = balanceMicros + reservedMicros + overdraftMicros;
        return Math.Max(0, Math.Min(costMicros, room));
    }

    internal static SqliteCommand Prepare(SqliteConnection connection, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    private static bool KeyStillUsable(SqliteConnection connection, long keyId, DateTime now)
    {
        using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT COUNT(*) FROM api_keys
            WHERE id = $key AND status = 0 AND deleted_at IS NULL AND (expires_at IS NULL OR expires_at > $now)
            """;
        command.Parameters.AddWithValue("$key", keyId);
        command.Parameters.AddWithValue("$now", now);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) > 0;
    }

    private static bool AccountDisabled(SqliteConnection connection, long accountId)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT is_disabled FROM accounts WHERE id = $account";
        command.Parameters.AddWithValue("$account", accountId);
        return command.ExecuteScalar() is long disabled && disabled != 0;
    }
}
