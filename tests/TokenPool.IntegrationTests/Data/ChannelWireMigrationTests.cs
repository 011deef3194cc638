using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using TokenPool.Data;
using TokenPool.Data.Sqlite;
using TokenPool.Gateway.Translation;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Data;

/// <summary>A store made before channels declared a set of APIs keeps every channel meaning what it meant.</summary>
public sealed class ChannelWireMigrationTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("tokenpool-migration-").FullName;

    [Fact]
    public async Task OldResponsesChannels_ServeResponsesAndChat_AndOldChatChannels_ServeChatOnly()
    {
        var connectionString = $"Data Source={Path.Combine(_directory, "tokenpool.db")};Pooling=False";
        var options = StoreEngines.Options<SqliteTokenPoolDb>(new StoreConnection(StoreProvider.Sqlite, connectionString));
        await using (var db = new SqliteTokenPoolDb(options))
        {
            await db.GetService<IMigrator>().MigrateAsync("20261123040404_DropUsageRecordsCreatedAtIndex");
            await db.Database.ExecuteSqlRawAsync(
                "INSERT INTO channels (name, base_url, wire, priority, weight, is_enabled, models, created_at, updated_at) VALUES "
                + "('openai', 'https://api.openai.com/v1', 0, 0, 1, 1, 'gpt-5.5', '2026-11-01', '2026-11-01'), "
                + "('vllm', 'http://127.0.0.1:8000/v1', 1, 0, 1, 1, 'gpt-5.5', '2026-11-01', '2026-11-01')");
        }

        await using (var db = new SqliteTokenPoolDb(options))
        {
            await db.Database.MigrateAsync();
            var channels = await db.Channels.AsNoTracking().ToDictionaryAsync(c => c.Name, c => c.Wire);

            Assert.Equal(WireSet.OpenAi, channels["openai"]);
            Assert.Equal(WireSet.Of(ApiKind.ChatCompletions), channels["vllm"]);
        }
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}
