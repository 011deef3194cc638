using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>
/// Checks the money invariant against the store. Every sum is taken from the detail rows (ledger,
/// usage records, open reservations) and compared with the running totals kept on accounts and keys:
/// <list type="bullet">
/// <item>account: <c>credited == sum(ledger)</c>, <c>charged == sum(usage_records.charged)</c>,
///   <c>reserved == sum(open reservations)</c>, <c>balance == credited - charged - reserved</c>,
///   and <c>balance &gt;= -overdraft</c>;</item>
/// <item>key: <c>charged == sum(usage_records.charged)</c>, <c>reserved == sum(open reservations)</c>,
///   and, with a spend limit, <c>charged &lt;= limit + overdraft</c>;</item>
/// <item>no usage record charges more than its cost, and none charges a negative amount;</item>
/// <item>when nothing should be in flight: no reservation is open.</item>
/// </list>
/// The tests run it after every concurrency and fault scenario; an operator can run it on a live store.
/// </summary>
internal static class MoneyInvariant
{
    /// <summary>Checks a SQLite store.</summary>
    public static Task<IReadOnlyList<string>> CheckAsync(
        string connectionString, long overdraftMicros, bool expectNoOpenReservations, CancellationToken cancellationToken) =>
        CheckAsync(new StoreConnection(StoreProvider.Sqlite, connectionString), overdraftMicros, expectNoOpenReservations, cancellationToken);

    /// <summary>Checks a store on either engine, in one snapshot of it.</summary>
    public static async Task<IReadOnlyList<string>> CheckAsync(
        StoreConnection store, long overdraftMicros, bool expectNoOpenReservations, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        await using DbConnection connection = store.Provider == StoreProvider.Postgres
            ? new NpgsqlConnection(store.ConnectionString)
            : new SqliteConnection(store.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);

        await CollectAsync(connection, transaction, problems, """
            SELECT a.id, a.balance_micros, a.reserved_micros, a.charged_micros, a.credited_micros,
                COALESCE((SELECT SUM(amount_micros) FROM ledger l WHERE l.account_id = a.id), 0),
                COALESCE((SELECT SUM(charged_micros) FROM usage_records u WHERE u.account_id = a.id), 0),
                COALESCE((SELECT SUM(amount_micros) FROM reservations r WHERE r.account_id = a.id), 0)
            FROM accounts a
            """, row =>
        {
            var (id, balance, reserved, charged, credited, ledger, settled, open) =
                (Long(row, 0), Long(row, 1), Long(row, 2), Long(row, 3), Long(row, 4), Long(row, 5), Long(row, 6), Long(row, 7));
            var found = new List<string>();
            if (credited != ledger)
            {
                found.Add(Say($"account {id}: credited {credited} but the ledger sums to {ledger}"));
            }

            if (charged != settled)
            {
                found.Add(Say($"account {id}: charged {charged} but its usage records charge {settled}"));
            }

            if (reserved != open)
            {
                found.Add(Say($"account {id}: reserved {reserved} but its open reservations hold {open}"));
            }

            if (balance != credited - charged - reserved)
            {
                found.Add(Say($"account {id}: balance {balance} is not credited {credited} - charged {charged} - reserved {reserved}"));
            }

            if (balance < -overdraftMicros)
            {
                found.Add(Say($"account {id}: balance {balance} is below the overdraft bound -{overdraftMicros}"));
            }

            return found;
        }, cancellationToken);

        await CollectAsync(connection, transaction, problems, """
            SELECT k.id, k.charged_micros, k.reserved_micros, k.spend_limit_micros,
                COALESCE((SELECT SUM(charged_micros) FROM usage_records u WHERE u.key_id = k.id), 0),
                COALESCE((SELECT SUM(amount_micros) FROM reservations r WHERE r.key_id = k.id), 0)
            FROM api_keys k
            """, row =>
        {
            var (id, charged, reserved, settled, open) = (Long(row, 0), Long(row, 1), Long(row, 2), Long(row, 4), Long(row, 5));
            long? limit = row.IsDBNull(3) ? null : Long(row, 3);
            var found = new List<string>();
            if (charged != settled)
            {
                found.Add(Say($"key {id}: charged {charged} but its usage records charge {settled}"));
            }

            if (reserved != open)
            {
                found.Add(Say($"key {id}: reserved {reserved} but its open reservations hold {open}"));
            }

            if (limit is { } max && charged > max + overdraftMicros)
            {
                found.Add(Say($"key {id}: charged {charged} is beyond its spend limit {max} and the overdraft bound"));
            }

            return found;
        }, cancellationToken);

        await CollectAsync(connection, transaction, problems,
            "SELECT request_id, cost_micros, charged_micros FROM usage_records WHERE charged_micros < 0 OR charged_micros > cost_micros OR cost_micros < 0",
            row => [Say($"usage record {row.GetString(0)}: cost {Long(row, 1)}, charged {Long(row, 2)}")], cancellationToken);

        if (expectNoOpenReservations)
        {
            await CollectAsync(connection, transaction, problems, "SELECT request_id, amount_micros FROM reservations",
                row => [Say($"reservation {row.GetString(0)} of {Long(row, 1)} is still open")], cancellationToken);
        }

        return problems;
    }

    private static async Task CollectAsync(
        DbConnection connection, DbTransaction transaction, List<string> problems, string sql,
        Func<DbDataReader, IEnumerable<string>> check, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            problems.AddRange(check(reader));
        }
    }

    /// <summary>A whole number however the engine returns it (PostgreSQL sums bigints as numeric).</summary>
    private static long Long(DbDataReader row, int ordinal) => Convert.ToInt64(row.GetValue(ordinal), CultureInfo.InvariantCulture);

    private static string Say(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
