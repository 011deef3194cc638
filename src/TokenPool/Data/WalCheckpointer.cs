using Microsoft.Data.Sqlite;

namespace TokenPool.Data;

/// <summary>
/// Copies the write-ahead log back into the database file from a connection of its own, once a second.
/// The request path's writer has automatic checkpoints turned off (see <see cref="Database.Writer"/>), so
/// no request waits for the bulk of a checkpoint's copy and sync: a first passive checkpoint copies what
/// is there without blocking anyone, then a second one under the write lock copies only the few pages
/// written meanwhile, so that the next write starts the log from its beginning again. The log file thus
/// stays small and is rewritten in place instead of growing.
/// </summary>
internal sealed partial class WalCheckpointer(Database database, ILogger<WalCheckpointer> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        await using var connection = new SqliteConnection(database.ConnectionString);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    if (connection.State != System.Data.ConnectionState.Open)
                    {
                        await connection.OpenAsync(stoppingToken);
                    }

                    await using var command = connection.CreateCommand();
                    command.CommandText = "PRAGMA wal_checkpoint(PASSIVE);";
                    await command.ExecuteNonQueryAsync(stoppingToken);
                    await database.WriteLock.WaitAsync(stoppingToken);
                    try
                    {
                        await command.ExecuteNonQueryAsync(stoppingToken);
                    }
                    finally
                    {
                        database.WriteLock.Release();
                    }
                }
                catch (SqliteException ex)
                {
                    LogCheckpointFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 1011, Level = LogLevel.Warning, Message = "Checkpointing the write-ahead log failed; retrying in a second")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception exception);
}
