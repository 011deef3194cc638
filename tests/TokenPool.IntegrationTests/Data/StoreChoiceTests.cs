using System.Text.Json;
using Npgsql;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Data;

/// <summary>
/// Choosing the store and the secrets as an operator does: <c>--database</c> / <c>TOKENPOOL_DATABASE</c>,
/// <c>--secrets</c> / <c>TOKENPOOL_SECRETS</c>, <c>tokenpool migrate</c> and <c>serve --no-migrate</c>, through the built program.
/// </summary>
public sealed class StoreChoiceTests : IAsyncLifetime
{
    private const string Password = "correct horse battery staple";
    private string _root = null!;
    private readonly List<string> _databases = [];

    public Task InitializeAsync()
    {
        _root = Directory.CreateTempSubdirectory("tokenpool-store-").FullName;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var database in _databases)
        {
            await TestPostgres.DropDatabaseAsync(database);
        }

        Directory.Delete(_root, recursive: true);
    }

    private async Task<string> DatabaseAsync(string purpose)
    {
        var database = await TestPostgres.CreateDatabaseAsync(purpose);
        _databases.Add(database);
        return database;
    }

    private string Folder(string name) => Path.Combine(_root, name);

    [Fact]
    public async Task DatabaseFlagAndVariable_PutEveryVerbOnPostgres_AndSecretsWhereTheOperatorSays()
    {
        var database = await DatabaseAsync("choice");
        var data = Folder("data");
        var secrets = Folder("mounted-secrets");

        var added = await ServerProcess.CliAsync(data, "user", "add", "--email", "pg@example.com", "--password", Password, "--credit", "3", "--database", database, "--secrets", secrets);
        Assert.True(added.ExitCode == 0, added.ToString());
        var key = await ServerProcess.CliWithEnvironmentAsync(
            new Dictionary<string, string> { ["TOKENPOOL_DATABASE"] = database, ["TOKENPOOL_SECRETS"] = secrets, ["TOKENPOOL_DATA"] = data },
            "key", "create", "--email", "pg@example.com");
        Assert.True(key.ExitCode == 0, key.ToString());

        // The account lives in PostgreSQL: no SQLite file was made, and the key material is in the named folder only.
        await using (var connection = new NpgsqlConnection(database))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT balance_micros FROM accounts WHERE email = 'pg@example.com'", connection);
            Assert.Equal(3_000_000L, await command.ExecuteScalarAsync());
        }

        Assert.False(File.Exists(Path.Combine(data, "tokenpool.db")));
        Assert.False(Directory.Exists(Path.Combine(data, "secrets")));
        Assert.True(File.Exists(Path.Combine(secrets, "key-lookup.secret")));
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(secrets, "data-protection")));

        var shown = await ServerProcess.CliWithEnvironmentAsync(new Dictionary<string, string> { ["TOKENPOOL_DATABASE"] = database, ["TOKENPOOL_DATA"] = data },
            "user", "show", "--email", "pg@example.com");
        Assert.True(shown.ExitCode == 0, shown.ToString());
        Assert.Equal(3m, JsonDocument.Parse(shown.Stdout).RootElement.GetProperty("balance_usd").GetDecimal());
    }

    [Fact]
    public async Task Migrate_CreatesTheStore_AndServeWithNoMigrateRefusesOneThatNeedsIt()
    {
        var database = await DatabaseAsync("migrate");
        var data = Folder("data-migrate");

        var refused = await ServerProcess.CliAsync(data, "serve", "--no-migrate", "--database", database, "--urls", $"http://127.0.0.1:{ServerProcess.FreePort()}");
        Assert.True(refused.ExitCode == 1, refused.ToString());
        Assert.Contains("tokenpool migrate", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.Stdout + refused.Stderr, StringComparison.Ordinal);

        var migrated = await ServerProcess.CliAsync(data, "migrate", "--database", database);
        Assert.True(migrated.ExitCode == 0, migrated.ToString());
        Assert.StartsWith("Applied ", migrated.Stdout, StringComparison.Ordinal);
        var again = await ServerProcess.CliAsync(data, "migrate", "--database", database);
        Assert.Contains("is up to date", again.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreachableOrUnreadableDatabase_IsOneClearLine_WithoutThePassword()
    {
        var data = Folder("data-unreachable");
        var unreachable = $"Host=127.0.0.1;Port={ServerProcess.FreePort()};Database=tokenpool;Username=tp;Password=hunter2-secret";

        foreach (var run in new[]
        {
            await ServerProcess.CliAsync(data, "user", "show", "--email", "x@example.com", "--database", unreachable),
            await ServerProcess.CliAsync(data, "serve", "--database", unreachable, "--urls", $"http://127.0.0.1:{ServerProcess.FreePort()}"),
            await ServerProcess.CliAsync(data, "migrate", "--database", "mysql://db/tokenpool"),
        })
        {
            Assert.True(run.ExitCode == 1, run.ToString());
            Assert.DoesNotContain("hunter2", run.Stdout + run.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", run.Stdout + run.Stderr, StringComparison.Ordinal);
            Assert.Matches("could not open the PostgreSQL database \"tokenpool\" on 127.0.0.1|Give the database as an Npgsql connection string", run.Stderr);
        }
    }
}
