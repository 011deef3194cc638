using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Hosting;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;

namespace TokenPool.IntegrationTests.Data;

/// <summary>
/// Each engine's migrations bring its database up to date: a SQLite store written before the migrations were split per
/// engine upgrades in place, and an empty PostgreSQL database becomes a working store.
/// </summary>
public sealed class StoreMigrationTests
{
    [Fact]
    public async Task SqliteStoreFromBeforeTheSplit_UpgradesInPlace_KeepingItsHistoryAndData()
    {
        var data = Directory.CreateTempSubdirectory("tokenpool-upgrade-").FullName;
        try
        {
            // Written by the release before migrations were split per engine: one account with $7.50 and a channel.
            File.Copy(Path.Combine(AppContext.BaseDirectory, "Data", "Fixtures", "tokenpool-before-per-engine-migrations.db"), Path.Combine(data, "tokenpool.db"));
            await using var app = TokenPoolServer.Build(new ServeSettings("http://127.0.0.1:0", data));

            await app.Services.InitializeStoreAsync(CancellationToken.None);

            await using var db = await app.Services.GetRequiredService<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
            var applied = (await db.Database.GetAppliedMigrationsAsync()).ToList();
            Assert.Equal(["20261122153431_Initial", "20261123040404_DropUsageRecordsCreatedAtIndex"], applied.Take(2));
            Assert.Equal(db.Database.GetMigrations(), applied);
            var account = await db.Accounts.SingleAsync();
            Assert.Equal(("old@example.com", 7_500_000L, 7_500_000L), (account.Email, account.BalanceMicros, account.CreditedMicros));
            Assert.Equal("up", (await db.Channels.SingleAsync()).Name);
            Assert.True(await db.ModelPrices.AnyAsync());
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task EmptyPostgresDatabase_IsMigratedIntoAWorkingStore_AndMigratingAgainChangesNothing()
    {
        var database = await TestPostgres.CreateDatabaseAsync("migrate");
        var data = Directory.CreateTempSubdirectory("tokenpool-pg-").FullName;
        try
        {
            await using var services = StoreServices(data, database);
            Assert.Equal(StoreProvider.Postgres, services.GetRequiredService<StoreConnection>().Provider);

            await services.InitializeStoreAsync(CancellationToken.None);
            await services.InitializeStoreAsync(CancellationToken.None);

            var accounts = services.GetRequiredService<AccountService>();
            var created = await accounts.CreateAsync("pg@example.com", "correct horse battery staple", AccountRole.User, Money.FromDollars(5m), CancellationToken.None);
            var balance = await accounts.ChangeCreditAsync(created.Id, Money.FromDollars(2.25m), "top up", null, CancellationToken.None);
            Assert.Equal(7_250_000, balance);

            await using var db = await services.GetRequiredService<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
            Assert.Equal("Npgsql.EntityFrameworkCore.PostgreSQL", db.Database.ProviderName);
            Assert.Equal(db.Database.GetMigrations(), await db.Database.GetAppliedMigrationsAsync());
            var account = await db.Accounts.AsNoTracking().SingleAsync(a => a.Id == created.Id);
            Assert.Equal((7_250_000L, 7_250_000L), (account.BalanceMicros, account.CreditedMicros));
            Assert.Equal(DateTimeKind.Utc, account.CreatedAt.Kind);
            Assert.Equal(7_250_000, await db.Ledger.Where(l => l.AccountId == created.Id).SumAsync(l => l.AmountMicros));
            Assert.Equal(PriceCatalog.Defaults.Count, await db.ModelPrices.CountAsync());
        }
        finally
        {
            await TestPostgres.DropDatabaseAsync(database);
            Directory.Delete(data, recursive: true);
        }
    }

    /// <summary>The store and the account services alone, as the CLI builds them, on the given database.</summary>
    private static ServiceProvider StoreServices(string dataDirectory, string database)
    {
        var configuration = new ConfigurationBuilder().AddTokenPoolSources(dataDirectory, new Dictionary<string, string?> { ["Store:Database"] = database }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddStore(configuration).AddKeys().AddAccounts(configuration);
        return services.BuildServiceProvider();
    }
}
