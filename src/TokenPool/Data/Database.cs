using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace TokenPool.Data;

/// <summary>
/// The SQLite-specific corner: connection set-up and the single writer.
/// SQLite allows one writer at a time. Every write on the request path (quota reservation, settlement
/// batches) goes through <see cref="WriteLock"/> on one long-lived connection, so requests queue in
/// memory instead of meeting "database is locked". Writes from the console or the CLI use their own
/// connections and wait on SQLite's busy timeout, which WAL keeps short.
/// </summary>
internal sealed class Database : IAsyncDisposable
{
    private readonly SqliteConnection _writer;
    // Keyed by the SQL string's identity: callers pass constants, so a lookup never hashes or compares the text.
    private readonly Dictionary<string, SqliteCommand> _statements = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<string, PreparedWrite> _prepared = new(ReferenceEqualityComparer.Instance);

    public Database(StoreConnection store)
    {
        ConnectionString = store.Provider == StoreProvider.Sqlite ? store.ConnectionString : throw new InvalidOperationException("The store is on PostgreSQL, not SQLite.");
        _writer = new SqliteConnection(ConnectionString);
    }

    public string ConnectionString { get; }

    /// <summary>Held while <see cref="Writer"/> is in use.</summary>
    public SemaphoreSlim WriteLock { get; } = new(1, 1);

    /// <summary>
    /// The one connection the request path writes through. Use only while holding <see cref="WriteLock"/>.
    /// It never checkpoints the write-ahead log itself: <see cref="WalCheckpointer"/> does, off the request path.
    /// </summary>
    public SqliteConnection Writer
    {
        get
        {
            if (_writer.State != System.Data.ConnectionState.Open)
            {
                _writer.Open();
                ApplyConnectionPragmas(_writer);
                using var command = _writer.CreateCommand();
                command.CommandText = "PRAGMA wal_autocheckpoint=0;";
                command.ExecuteNonQuery();
            }

            return _writer;
        }
    }

    /// <summary>
    /// The statement for <paramref name="sql"/> on <see cref="Writer"/>, prepared once and reused, bound to this
    /// call's transaction and parameter values. Use only while holding <see cref="WriteLock"/>. The SQL must be a
    /// constant (a literal): statements are found by the string's identity.
    /// </summary>
    public SqliteCommand WriterStatement(SqliteTransaction transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        System.Diagnostics.Debug.Assert(string.IsInterned(sql) is not null, "WriterStatement takes constant SQL only.");
        var connection = Writer;
        if (!_statements.TryGetValue(sql, out var command) || command.Connection != connection)
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, _) in parameters)
            {
                command.Parameters.Add(new SqliteParameter { ParameterName = name });
            }

            _statements[sql] = command;
        }

        command.Transaction = transaction;
        for (var i = 0; i < parameters.Length; i++)
        {
            command.Parameters[i].Value = parameters[i].Value ?? DBNull.Value;
        }

        return command;
    }

    /// <summary>
    /// The positionally bound statement for <paramref name="sql"/> on <see cref="Writer"/>, prepared once (see
    /// <see cref="PreparedWrite"/>). Use only while holding <see cref="WriteLock"/>. The SQL must be a constant.
    /// </summary>
    public PreparedWrite WriterPrepared(string sql)
    {
        System.Diagnostics.Debug.Assert(string.IsInterned(sql) is not null, "WriterPrepared takes constant SQL only.");
        var connection = Writer;
        if (!_prepared.TryGetValue(sql, out var statement) || statement.Handle != connection.Handle)
        {
            statement?.Dispose();
            statement = new PreparedWrite(connection, sql);
            _prepared[sql] = statement;
        }

        return statement;
    }

    public static void ApplyConnectionPragmas(DbConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;";
        command.ExecuteNonQuery();
    }

    /// <summary>Once per database file: write-ahead logging, so readers never wait for the writer.</summary>
    public static void EnableWriteAheadLog(string connectionString)
    {
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        command.ExecuteNonQuery();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var statement in _prepared.Values)
        {
            statement.Dispose();
        }

        await _writer.DisposeAsync();
        WriteLock.Dispose();
    }
}

/// <summary>Applies the per-connection pragmas to every connection EF Core opens.</summary>
internal sealed class SqlitePragmaInterceptor : DbConnectionInterceptor
{
    public static readonly SqlitePragmaInterceptor Instance = new();

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData) =>
        Database.ApplyConnectionPragmas(connection);

    public override Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Database.ApplyConnectionPragmas(connection);
        return Task.CompletedTask;
    }
}
