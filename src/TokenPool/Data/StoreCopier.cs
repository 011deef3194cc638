using System.Data.Common;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata;
using Npgsql;
using TokenPool.Data.Postgres;

namespace TokenPool.Data;

/// <summary>
/// <c>tokenpool store copy --to …</c>: moves a stopped SQLite deployment into an empty PostgreSQL database.
/// <list type="number">
/// <item>migrate the target and check that it holds no data;</item>
/// <item>in one transaction on the target, copy every table of the model, ids included, with PostgreSQL's binary COPY
/// (rows are read through EF Core, so every value is converted as the target's model maps it);</item>
/// <item>move each identity sequence past the copied ids;</item>
/// <item>compare row counts and money totals (balances, holds, charges, credits, costs) of source and target, inside the
/// same transaction; commit only when every one is equal.</item>
/// </list>
/// </summary>
internal sealed class StoreCopier(IDbContextFactory<TokenPoolDb> source, StoreConnection target)
{
    /// <summary>Money totals compared after the copy; each query reads the same on both engines.</summary>
    private static readonly (string Name, string Sql)[] MoneyTotals =
    [
        ("account balances", "SELECT COALESCE(SUM(balance_micros), 0) FROM accounts"),
        ("account holds", "SELECT COALESCE(SUM(reserved_micros), 0) FROM accounts"),
        ("account charges", "SELECT COALESCE(SUM(charged_micros), 0) FROM accounts"),
        ("account credits", "SELECT COALESCE(SUM(credited_micros), 0) FROM accounts"),
        ("ledger", "SELECT COALESCE(SUM(amount_micros), 0) FROM ledger"),
        ("usage costs", "SELECT COALESCE(SUM(cost_micros), 0) FROM usage_records"),
        ("usage charges", "SELECT COALESCE(SUM(charged_micros), 0) FROM usage_records"),
        ("key charges", "SELECT COALESCE(SUM(charged_micros), 0) FROM api_keys"),
        ("key holds", "SELECT COALESCE(SUM(reserved_micros), 0) FROM api_keys"),
        ("open reservations", "SELECT COALESCE(SUM(amount_micros), 0) FROM reservations"),
        ("daily charges", "SELECT COALESCE(SUM(charged_micros), 0) FROM usage_daily"),
    ];

    /// <summary>Copies and verifies; returns one line per table and per total. Throws <see cref="StoreCopyException"/> when it cannot.</summary>
    public async Task<IReadOnlyList<string>> CopyAsync(CancellationToken cancellationToken)
    {
        if (target.Provider != StoreProvider.Postgres)
        {
            throw new StoreCopyException("store copy moves a store into PostgreSQL: give --to an Npgsql connection string or a postgres:// URL.");
        }

        await using var from = await source.CreateDbContextAsync(cancellationToken);
        from.ChangeTracker.QueryTrackingBehavior = QueryTrackingBehavior.NoTracking;
        if (from.Database.IsNpgsql())
        {
            throw new StoreCopyException("This deployment is on PostgreSQL already; store copy moves a SQLite store into PostgreSQL.");
        }

        await using var to = new PostgresTokenPoolDb(StoreEngines.Options<PostgresTokenPoolDb>(target));
        await to.Database.MigrateAsync(cancellationToken);
        var tables = InCopyOrder(to.Model);

        await using var connection = new NpgsqlConnection(target.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        foreach (var table in tables)
        {
            if (await ScalarAsync(connection, null, $"SELECT COUNT(*) FROM \"{table.GetTableName()}\"", cancellationToken) != "0")
            {
                throw new StoreCopyException(
                    $"The {target.Describe()} already holds data (table {table.GetTableName()}). Copy into an empty database: nothing was changed.");
            }
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var report = new List<string>();
        foreach (var table in tables)
        {
            var copied = await CopyTableAsync(from, table, connection, cancellationToken);
            await MoveSequencePastAsync(connection, transaction, table, cancellationToken);
            var expected = await ScalarAsync(from.Database.GetDbConnection(), null, $"SELECT COUNT(*) FROM \"{table.GetTableName()}\"", cancellationToken);
            var found = await ScalarAsync(connection, transaction, $"SELECT COUNT(*) FROM \"{table.GetTableName()}\"", cancellationToken);
            if (expected != found || expected != copied.ToString(CultureInfo.InvariantCulture))
            {
                throw new StoreCopyException($"Table {table.GetTableName()}: the source has {expected} rows but {found} arrived. Nothing was committed.");
            }

            report.Add($"{table.GetTableName()}: {found} rows");
        }

        foreach (var (name, sql) in MoneyTotals)
        {
            var expected = await ScalarAsync(from.Database.GetDbConnection(), null, sql, cancellationToken);
            var found = await ScalarAsync(connection, transaction, sql, cancellationToken);
            if (expected != found)
            {
                throw new StoreCopyException($"The {name} differ after the copy ({expected} in the source, {found} in the target, micro-USD). Nothing was committed.");
            }

            report.Add($"{name}: {expected} micro-USD in both");
        }

        await transaction.CommitAsync(cancellationToken);
        return report;
    }

    /// <summary>Every table of the model, each after the tables its foreign keys point to.</summary>
    private static List<IEntityType> InCopyOrder(IModel model)
    {
        var ordered = new List<IEntityType>();
        var pending = model.GetEntityTypes().Where(e => e.GetTableName() is not null).OrderBy(e => e.GetTableName(), StringComparer.Ordinal).ToList();
        while (pending.Count > 0)
        {
            var ready = pending.First(e => e.GetForeignKeys().All(fk => fk.PrincipalEntityType == e || ordered.Contains(fk.PrincipalEntityType)));
            ordered.Add(ready);
            pending.Remove(ready);
        }

        return ordered;
    }

    private static async Task<long> CopyTableAsync(TokenPoolDb from, IEntityType table, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var tableName = table.GetTableName()!;
        var store = StoreObjectIdentifier.Table(tableName, table.GetSchema());
        var columns = table.GetProperties().Select(p => (
            Property: p,
            Column: p.GetColumnName(store)!,
            Type: BaseTypeName(p.GetColumnType()),
            Converter: p.GetTypeMapping().Converter)).ToList();
        var sourceType = from.Model.FindEntityType(table.ClrType) ?? throw new StoreCopyException($"The source store has no table for {table.ClrType.Name}.");
        var rows = (IEnumerable<object>)typeof(DbContext).GetMethod(nameof(DbContext.Set), Type.EmptyTypes)!
            .MakeGenericMethod(sourceType.ClrType).Invoke(from, null)!;

        long count = 0;
        var columnList = string.Join(", ", columns.Select(c => $"\"{c.Column}\""));
        await using (var importer = await connection.BeginBinaryImportAsync($"COPY \"{tableName}\" ({columnList}) FROM STDIN (FORMAT BINARY)", cancellationToken))
        {
            foreach (var row in rows)
            {
                await importer.StartRowAsync(cancellationToken);
                foreach (var (property, _, type, converter) in columns)
                {
                    var value = property.GetGetter().GetClrValueUsingContainingEntity(row);
                    if (value is null)
                    {
                        await importer.WriteNullAsync(cancellationToken);
                        continue;
                    }

                    await importer.WriteAsync(converter is null ? value : converter.ConvertToProvider(value), type, cancellationToken);
                }

                count++;
            }

            await importer.CompleteAsync(cancellationToken);
        }

        return count;
    }

    /// <summary>After ids were copied as they are, the next row the identity column makes gets the next id.</summary>
    private static async Task MoveSequencePastAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IEntityType table, CancellationToken cancellationToken)
    {
        var tableName = table.GetTableName()!;
        var store = StoreObjectIdentifier.Table(tableName, table.GetSchema());
        foreach (var key in table.FindPrimaryKey()!.Properties.Where(p => p.ValueGenerated == Microsoft.EntityFrameworkCore.Metadata.ValueGenerated.OnAdd && p.ClrType == typeof(long)))
        {
            var column = key.GetColumnName(store)!;
            await using var command = new NpgsqlCommand(
                $"SELECT setval(pg_get_serial_sequence('\"{tableName}\"', '{column}'), COALESCE(MAX(\"{column}\"), 0) + 1, false) FROM \"{tableName}\"",
                connection, transaction);
            await command.ExecuteScalarAsync(cancellationToken);
        }
    }

    private static string BaseTypeName(string? columnType) =>
        columnType is null ? throw new StoreCopyException("A column has no type in the PostgreSQL model.")
        : columnType.IndexOf('(', StringComparison.Ordinal) is var open and > 0 ? columnType[..open] : columnType;

    private static async Task<string> ScalarAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        if (connection.State != System.Data.ConnectionState.Open)
        {
            await connection.OpenAsync(cancellationToken);
        }

        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return Convert.ToString(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture) ?? "";
    }
}

/// <summary>The store could not be copied; nothing was committed to the target.</summary>
internal sealed class StoreCopyException(string message) : Exception(message);
