using Npgsql;
using NpgsqlTypes;
using TokenPool.Billing;

namespace TokenPool.Data.Postgres;

/// <summary>
/// The ledger's statements on PostgreSQL, where any number of gateway instances write at once.
/// <list type="bullet">
/// <item>A top-up is one statement, <c>tokenpool_top_up(…)</c> (a function made by the <c>LedgerFunctions</c> migration),
/// in a transaction of its own: it locks the account row, then moves the key's hold, the account's balance and the
/// lease row with conditional updates that PostgreSQL re-checks against the latest committed row, so no number of
/// instances can hold more than the balance or a key's spend limit. A refusal is a result code, never an error.</item>
/// <item>Every transaction that changes several rows locks them in one order — accounts, then keys, then lease rows,
/// each by id — so two instances never wait on each other in a circle.</item>
/// <item>PostgreSQL aborts a whole transaction on a failed statement; nothing here relies on going on after one: a
/// release or settlement that fails is rolled back whole and retried by its caller, and top-ups never share a transaction.</item>
/// </list>
/// </summary>
internal sealed class PostgresLedgerStore(NpgsqlDataSource dataSource) : ILedgerStore, IAsyncDisposable
{
    public SemaphoreSlim WriteLock { get; } = new(1, 1);

    public async Task<TopUpResult[]> TopUpAsync(IReadOnlyList<LeaseTopUp> topUps)
    {
        var results = new TopUpResult[topUps.Count];
        await using var connection = await dataSource.OpenConnectionAsync();
        for (var i = 0; i < topUps.Count; i++)
        {
            var (leaseId, accountId, keyId, amount, now, expiresAt) = topUps[i];
            try
            {
                await using var command = new NpgsqlCommand("SELECT tokenpool_top_up($1, $2, $3, $4, $5, $6)", connection)
                {
                    Parameters =
                    {
                        new() { Value = leaseId }, new() { Value = accountId }, new() { Value = keyId }, new() { Value = amount },
                        Utc(now), Utc(expiresAt),
                    },
                };
                results[i] = new TopUpResult((ReserveOutcome)(int)(await command.ExecuteScalarAsync())!, null);
            }
            catch (NpgsqlException ex)
            {
                results[i] = new TopUpResult(default, ex);
            }
        }

        return results;
    }

    public async Task<bool[]> ReleaseAsync(IReadOnlyList<LeaseRelease> releases)
    {
        var released = new bool[releases.Count];
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var view = await LockAsync(connection, transaction, new SettlementScope(
            [.. releases.Select(r => r.AccountId)], [.. releases.Select(r => r.KeyId)], [.. releases.Select(r => r.LeaseId)], []));
        var accounts = new Dictionary<long, MoneyMove>();
        var keys = new Dictionary<long, KeyMove>();
        var takes = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < releases.Count; i++)
        {
            var (leaseId, accountId, keyId, amount) = releases[i];
            if (view.Leases.TryGetValue(leaseId, out var holds) && holds >= amount)
            {
                view.Leases[leaseId] = holds - amount;
                takes[leaseId] = takes.GetValueOrDefault(leaseId) + amount;
                var account = accounts.GetValueOrDefault(accountId);
                accounts[accountId] = account with { Released = account.Released + amount };
                var key = keys.GetValueOrDefault(keyId);
                keys[keyId] = key with { Released = key.Released + amount };
                released[i] = true;
            }
        }

        await using var batch = new NpgsqlBatch(connection, transaction);
        AddMoves(batch, accounts, keys, takes);
        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync();
        }

        await transaction.CommitAsync();
        return released;
    }

    public async Task SettleAsync(SettlementScope scope, Func<SettlementView, SettlementPlan> plan)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var decided = plan(await LockAsync(connection, transaction, scope));
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var record in decided.Records)
        {
            batch.BatchCommands.Add(InsertRecord(record));
        }

        var inserts = batch.BatchCommands.Count;
        AddMoves(batch, decided.Accounts, decided.Keys, decided.LeaseTakes);
        foreach (var (day, sums) in decided.Daily)
        {
            batch.BatchCommands.Add(Command("""
                INSERT INTO usage_daily (day, account_id, key_id, model, requests, input_tokens, cached_input_tokens,
                    output_tokens, reasoning_tokens, charged_micros)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (account_id, day, key_id, model) DO UPDATE SET
                    requests = usage_daily.requests + excluded.requests,
                    input_tokens = usage_daily.input_tokens + excluded.input_tokens,
                    cached_input_tokens = usage_daily.cached_input_tokens + excluded.cached_input_tokens,
                    output_tokens = usage_daily.output_tokens + excluded.output_tokens,
                    reasoning_tokens = usage_daily.reasoning_tokens + excluded.reasoning_tokens,
                    charged_micros = usage_daily.charged_micros + excluded.charged_micros
                """, day.Day, day.AccountId, day.KeyId, day.Model, sums.Requests, sums.Input, sums.Cached, sums.Output, sums.Reasoning, sums.Charged));
        }

        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync();
            for (var i = 0; i < inserts; i++)
            {
                if (batch.BatchCommands[i].RecordsAffected != 1)
                {
                    throw new InvalidOperationException($"Request {decided.Records[i].RequestId} was settled while its batch was being settled.");
                }
            }
        }

        await transaction.CommitAsync();
    }

    public ValueTask DisposeAsync()
    {
        WriteLock.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Locks the scope's rows in the one order every writer uses, and reads what the ledger needs of them.</summary>
    private static async Task<SettlementView> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, SettlementScope scope)
    {
        var view = new SettlementView();
        await using var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                Command("SELECT id, balance_micros FROM accounts WHERE id = ANY($1) ORDER BY id FOR UPDATE", (object)Distinct(scope.AccountIds)),
                Command("SELECT id, spend_limit_micros - charged_micros - reserved_micros, spend_limit_micros IS NOT NULL FROM api_keys WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                    (object)Distinct(scope.KeyIds)),
                Command("SELECT request_id, amount_micros FROM reservations WHERE request_id = ANY($1) ORDER BY request_id FOR UPDATE",
                    (object)scope.LeaseIds.Distinct(StringComparer.Ordinal).ToArray()),
                Command("SELECT request_id FROM usage_records WHERE request_id = ANY($1)", (object)scope.RequestIds.ToArray()),
            },
        };
        await using var reader = await batch.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            view.Balances[reader.GetInt64(0)] = reader.GetInt64(1);
        }

        await reader.NextResultAsync();
        while (await reader.ReadAsync())
        {
            if (reader.GetBoolean(2))
            {
                view.KeyRooms[reader.GetInt64(0)] = reader.GetInt64(1);
            }
        }

        await reader.NextResultAsync();
        while (await reader.ReadAsync())
        {
            view.Leases[reader.GetString(0)] = reader.GetInt64(1);
        }

        await reader.NextResultAsync();
        while (await reader.ReadAsync())
        {
            view.Settled.Add(reader.GetString(0));
        }

        return view;
    }

    /// <summary>The account, key and lease-row changes, in the lock order (their rows are locked already).</summary>
    private static void AddMoves(NpgsqlBatch batch, Dictionary<long, MoneyMove> accounts, Dictionary<long, KeyMove> keys, Dictionary<string, long> takes)
    {
        foreach (var (accountId, move) in accounts.OrderBy(a => a.Key))
        {
            batch.BatchCommands.Add(Command("""
                UPDATE accounts SET balance_micros = balance_micros + $1 - $2, reserved_micros = reserved_micros - $1, charged_micros = charged_micros + $2
                WHERE id = $3
                """, move.Released, move.Charged, accountId));
        }

        foreach (var (keyId, move) in keys.OrderBy(k => k.Key))
        {
            var at = new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = move.LastUsedAt is { } last ? DateTime.SpecifyKind(last, DateTimeKind.Utc) : DBNull.Value };
            var command = Command("""
                UPDATE api_keys SET reserved_micros = reserved_micros - $1, charged_micros = charged_micros + $2, last_used_at = COALESCE($4, last_used_at)
                WHERE id = $3
                """, move.Released, move.Charged, keyId);
            command.Parameters.Add(at);
            batch.BatchCommands.Add(command);
        }

        foreach (var (leaseId, take) in takes.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            batch.BatchCommands.Add(Command("UPDATE reservations SET amount_micros = amount_micros - $1 WHERE request_id = $2", take, leaseId));
            batch.BatchCommands.Add(Command("DELETE FROM reservations WHERE request_id = $1 AND amount_micros = 0", leaseId));
        }
    }

    private static NpgsqlBatchCommand InsertRecord(UsageRecord record)
    {
        var command = Command("""
            INSERT INTO usage_records (request_id, created_at, account_id, key_id, channel_id, channel_key_id, model, endpoint,
                is_stream, status, outcome, error_code, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,
                is_estimated, cost_micros, charged_micros, input_micros_per_million, cached_input_micros_per_million,
                output_micros_per_million, latency_ms, first_token_ms, attempts, note)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)
            ON CONFLICT (request_id) DO NOTHING
            """,
            record.RequestId, DateTime.SpecifyKind(record.CreatedAt, DateTimeKind.Utc), record.AccountId, record.KeyId);
        command.Parameters.Add(Nullable(record.ChannelId, NpgsqlDbType.Bigint));
        command.Parameters.Add(Nullable(record.ChannelKeyId, NpgsqlDbType.Bigint));
        foreach (var value in new object[] { record.Model, record.Endpoint, record.IsStream, record.Status, record.Outcome })
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        command.Parameters.Add(Nullable(record.ErrorCode, NpgsqlDbType.Text));
        foreach (var value in new object[]
        {
            record.InputTokens, record.CachedInputTokens, record.OutputTokens, record.ReasoningTokens, record.IsEstimated, record.CostMicros,
            record.ChargedMicros, record.InputMicrosPerMillion, record.CachedInputMicrosPerMillion, record.OutputMicrosPerMillion, record.LatencyMs,
        })
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        command.Parameters.Add(Nullable(record.FirstTokenMs, NpgsqlDbType.Integer));
        command.Parameters.Add(Nullable(record.Attempts, NpgsqlDbType.Text));
        command.Parameters.Add(Nullable(record.Note, NpgsqlDbType.Text));
        return command;
    }

    private static NpgsqlBatchCommand Command(string sql, params object[] values)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }

    private static NpgsqlParameter Nullable(object? value, NpgsqlDbType type) => new() { NpgsqlDbType = type, Value = value ?? DBNull.Value };

    private static NpgsqlParameter Utc(DateTime value) => new() { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = DateTime.SpecifyKind(value, DateTimeKind.Utc) };

    private static long[] Distinct(IReadOnlyCollection<long> ids) => ids.Distinct().ToArray();
}
