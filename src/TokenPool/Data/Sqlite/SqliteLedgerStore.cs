using System.Text.Json;
using Microsoft.Data.Sqlite;
using TokenPool.Billing;

namespace TokenPool.Data.Sqlite;

/// <summary>
/// The ledger's statements on SQLite. Everything goes through the one writer connection (<see cref="Database"/>), so
/// nothing else writes between a read and a write of the same transaction: a top-up is a group of conditional updates
/// that, undone by compensation when a later one finds no room, change all or nothing; a batch of top-ups shares one
/// commit, each with its own outcome. SQLite undoes a failed statement alone, so one failing top-up is undone by its own
/// compensation and leaves the others of the batch to commit.
/// </summary>
internal sealed class SqliteLedgerStore(Database database) : ILedgerStore
{
    public SemaphoreSlim WriteLock => database.WriteLock;

    public Task<TopUpResult[]> TopUpAsync(IReadOnlyList<LeaseTopUp> topUps)
    {
        var results = new TopUpResult[topUps.Count];
        var connection = database.Writer;
        using var transaction = connection.BeginTransaction();
        for (var i = 0; i < topUps.Count; i++)
        {
            try
            {
                results[i] = new TopUpResult(TopUp(connection, transaction, topUps[i]), null);
            }
            catch (SqliteException ex)
            {
                results[i] = new TopUpResult(default, ex);
            }
        }

        transaction.Commit();
        return Task.FromResult(results);
    }

    public Task<bool[]> ReleaseAsync(IReadOnlyList<LeaseRelease> releases)
    {
        var released = new bool[releases.Count];
        using var transaction = database.Writer.BeginTransaction();
        for (var i = 0; i < releases.Count; i++)
        {
            var (leaseId, accountId, keyId, amount) = releases[i];
            if (Shrink(transaction, leaseId, amount))
            {
                Execute(transaction, "UPDATE accounts SET balance_micros = balance_micros + $amount, reserved_micros = reserved_micros - $amount WHERE id = $account",
                    ("$amount", amount), ("$account", accountId));
                ReleaseKey(transaction, keyId, amount);
                DeleteIfEmpty(transaction, leaseId);
                released[i] = true;
            }
        }

        transaction.Commit();
        return Task.FromResult(released);
    }

    public Task SettleAsync(SettlementScope scope, Func<SettlementView, SettlementPlan> plan)
    {
        using var transaction = database.Writer.BeginTransaction();
        var view = new SettlementView();
        foreach (var accountId in scope.AccountIds)
        {
            view.Balances[accountId] = Scalar(transaction, "SELECT balance_micros FROM accounts WHERE id = $id", ("$id", accountId)) ?? 0;
        }

        foreach (var keyId in scope.KeyIds)
        {
            if (Scalar(transaction, "SELECT spend_limit_micros - charged_micros - reserved_micros FROM api_keys WHERE id = $id AND spend_limit_micros IS NOT NULL",
                ("$id", keyId)) is { } room)
            {
                view.KeyRooms[keyId] = room;
            }
        }

        foreach (var leaseId in scope.LeaseIds)
        {
            if (Scalar(transaction, "SELECT amount_micros FROM reservations WHERE request_id = $id", ("$id", leaseId)) is { } amount)
            {
                view.Leases[leaseId] = amount;
            }
        }

        using (var settled = database.WriterStatement(transaction,
            "SELECT request_id FROM usage_records WHERE request_id IN (SELECT value FROM json_each($ids))",
            ("$ids", JsonSerializer.Serialize(scope.RequestIds))).ExecuteReader())
        {
            while (settled.Read())
            {
                view.Settled.Add(settled.GetString(0));
            }
        }

        var decided = plan(view);
        foreach (var record in decided.Records)
        {
            if (!InsertRecord(record))
            {
                throw new InvalidOperationException($"Request {record.RequestId} was settled while its batch was being settled.");
            }
        }

        foreach (var (accountId, move) in decided.Accounts)
        {
            Execute(transaction, """
                UPDATE accounts SET balance_micros = balance_micros + $released - $charged,
                    reserved_micros = reserved_micros - $released, charged_micros = charged_micros + $charged
                WHERE id = $account
                """, ("$released", move.Released), ("$charged", move.Charged), ("$account", accountId));
        }

        foreach (var (keyId, move) in decided.Keys)
        {
            Execute(transaction, """
                UPDATE api_keys SET reserved_micros = reserved_micros - $released, charged_micros = charged_micros + $charged,
                    last_used_at = COALESCE($at, last_used_at)
                WHERE id = $key
                """, ("$released", move.Released), ("$charged", move.Charged), ("$key", keyId), ("$at", move.LastUsedAt));
        }

        foreach (var (leaseId, take) in decided.LeaseTakes)
        {
            if (take > 0 && !Shrink(transaction, leaseId, take))
            {
                throw new InvalidOperationException($"The lease row {leaseId} holds less than its settled requests took from it.");
            }

            DeleteIfEmpty(transaction, leaseId);
        }

        foreach (var (day, sums) in decided.Daily)
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

        transaction.Commit();
        return Task.CompletedTask;
    }

    /// <summary>
    /// One top-up inside the batch's transaction: the key row, the account row and the lease row change together or, by
    /// compensating in the same transaction, not at all. A top-up of nothing only checks the key and account and moves
    /// the lease's expiry.
    /// </summary>
    private ReserveOutcome TopUp(SqliteConnection connection, SqliteTransaction transaction, LeaseTopUp topUp)
    {
        var (leaseId, accountId, keyId, amountMicros, now, expiresAt) = topUp;
        var reserveKey = database.WriterStatement(transaction, """
            UPDATE api_keys SET reserved_micros = reserved_micros + $amount
            WHERE id = $key AND status = 0 AND deleted_at IS NULL
              AND (expires_at IS NULL OR expires_at > $now)
              AND (spend_limit_micros IS NULL OR charged_micros + reserved_micros + $amount <= spend_limit_micros)
            """, ("$amount", amountMicros), ("$key", keyId), ("$now", now));
        if (reserveKey.ExecuteNonQuery() == 0)
        {
            return KeyStillUsable(connection, transaction, keyId, now) ? ReserveOutcome.KeySpendLimit : ReserveOutcome.KeyRefused;
        }

        var reserveAccount = database.WriterStatement(transaction, """
            UPDATE accounts SET balance_micros = balance_micros - $amount, reserved_micros = reserved_micros + $amount
            WHERE id = $account AND is_disabled = $false AND ($amount = 0 OR balance_micros >= $amount)
            """, ("$amount", amountMicros), ("$account", accountId), ("$false", false));
        if (reserveAccount.ExecuteNonQuery() == 0)
        {
            ReleaseKey(transaction, keyId, amountMicros);
            return AccountDisabled(connection, transaction, accountId) ? ReserveOutcome.AccountDisabled : ReserveOutcome.InsufficientQuota;
        }

        var upsert = database.WriterStatement(transaction, """
            INSERT INTO reservations (request_id, account_id, key_id, amount_micros, created_at, expires_at)
            VALUES ($id, $account, $key, $amount, $now, $expires)
            ON CONFLICT (request_id) DO UPDATE SET amount_micros = amount_micros + excluded.amount_micros, expires_at = excluded.expires_at
            """, ("$id", leaseId), ("$account", accountId), ("$key", keyId), ("$amount", amountMicros), ("$now", now), ("$expires", expiresAt));
        try
        {
            upsert.ExecuteNonQuery();
        }
        catch (SqliteException)
        {
            // SQLite undid the failed statement alone; undo this top-up's two updates as well.
            ReleaseKey(transaction, keyId, amountMicros);
            Execute(transaction, "UPDATE accounts SET balance_micros = balance_micros + $amount, reserved_micros = reserved_micros - $amount WHERE id = $account",
                ("$amount", amountMicros), ("$account", accountId));
            throw;
        }

        return ReserveOutcome.Reserved;
    }

    private void ReleaseKey(SqliteTransaction transaction, long keyId, long amountMicros) =>
        Execute(transaction, "UPDATE api_keys SET reserved_micros = reserved_micros - $amount WHERE id = $key", ("$amount", amountMicros), ("$key", keyId));

    /// <summary>Takes <paramref name="amountMicros"/> off a lease row; false when the row holds less (it was released already).</summary>
    private bool Shrink(SqliteTransaction transaction, string leaseId, long amountMicros) =>
        Execute(transaction, "UPDATE reservations SET amount_micros = amount_micros - $amount WHERE request_id = $id AND amount_micros >= $amount",
            ("$amount", amountMicros), ("$id", leaseId)) > 0;

    private void DeleteIfEmpty(SqliteTransaction transaction, string leaseId) =>
        Execute(transaction, "DELETE FROM reservations WHERE request_id = $id AND amount_micros = 0", ("$id", leaseId));

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

    private int Execute(SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters) =>
        database.WriterStatement(transaction, sql, parameters).ExecuteNonQuery();

    private long? Scalar(SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters) =>
        database.WriterStatement(transaction, sql, parameters).ExecuteScalar() as long?;
}
