using System.Net;
using System.Text.Json;
using TokenPool.IntegrationTests.Infrastructure;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Data;

/// <summary><c>tokenpool store copy</c>: a SQLite deployment moved into PostgreSQL through the built program, verified.</summary>
public sealed class StoreCopyTests : IAsyncLifetime
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
    public async Task StoreCopy_MovesASqliteDeploymentIntoPostgres_VerifiedAndOnlyOnce()
    {
        var data = Folder("data-copy");
        Assert.Equal(0, (await ServerProcess.CliAsync(data, "user", "add", "--email", "copy@example.com", "--password", Password, "--credit", "5")).ExitCode);
        var key = (await ServerProcess.CliAsync(data, "key", "create", "--email", "copy@example.com")).Stdout.Trim();
        Assert.Equal(0, (await ServerProcess.CliAsync(data, "user", "credit", "--email", "copy@example.com", "--amount", "1.25", "--reason", "bonus")).ExitCode);
        var database = await DatabaseAsync("copy");
        await using (var server = await ServerProcess.StartAsync(data))
        {
            using var client = new HttpClient { BaseAddress = server.Address };
            client.DefaultRequestHeaders.Authorization = Bearer(key);
            for (var i = 0; i < 5; i++)
            {
                using var response = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.5","input":"hello"}""", "usage=1000,200"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            // Not while a server runs on the store: it would change under the copy.
            var busy = await ServerProcess.CliAsync(data, "store", "copy", "--to", database);
            Assert.True(busy.ExitCode == 1, busy.ToString());
            Assert.Contains("Stop it first", busy.Stderr, StringComparison.Ordinal);
        }

        var copied = await ServerProcess.CliAsync(data, "store", "copy", "--to", database);

        Assert.True(copied.ExitCode == 0, copied.ToString());
        Assert.Contains("usage_records: 5 rows", copied.Stdout, StringComparison.Ordinal);
        Assert.Contains("account credits: 6250000 micro-USD in both", copied.Stdout, StringComparison.Ordinal);
        Assert.Contains("Copied and verified.", copied.Stdout, StringComparison.Ordinal);
        var before = JsonDocument.Parse((await ServerProcess.CliAsync(data, "user", "show", "--email", "copy@example.com")).Stdout).RootElement;
        var after = JsonDocument.Parse((await ServerProcess.CliAsync(data, "user", "show", "--email", "copy@example.com", "--database", database)).Stdout).RootElement;
        foreach (var field in new[] { "balance_usd", "credited_usd", "cost_usd", "reserved_usd", "requests", "input_tokens", "output_tokens" })
        {
            Assert.Equal(before.GetProperty(field).GetDecimal(), after.GetProperty(field).GetDecimal());
        }

        // A server on the copy, with the deployment's secrets, knows the key and goes on from the copied balance.
        await using (var onPostgres = await ServerProcess.StartAsync(Folder("data-on-postgres"), null, ["--database", database, "--secrets", Path.Combine(data, "secrets")]))
        {
            using var client = new HttpClient { BaseAddress = onPostgres.Address };
            client.DefaultRequestHeaders.Authorization = Bearer(key);
            using var response = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.5","input":"hello"}""", "usage=1000,200"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var served = JsonDocument.Parse((await ServerProcess.CliAsync(data, "user", "show", "--email", "copy@example.com", "--database", database)).Stdout).RootElement;
        Assert.Equal(6, served.GetProperty("requests").GetInt64());
        Assert.True(served.GetProperty("balance_usd").GetDecimal() < after.GetProperty("balance_usd").GetDecimal());
        Assert.Equal(0m, served.GetProperty("reserved_usd").GetDecimal());

        // New rows get new ids after the copied ones.
        Assert.Equal(0, (await ServerProcess.CliAsync(data, "user", "add", "--email", "next@example.com", "--password", Password, "--database", database)).ExitCode);
        Assert.Equal(2, JsonDocument.Parse((await ServerProcess.CliAsync(data, "user", "show", "--email", "next@example.com", "--database", database)).Stdout).RootElement.GetProperty("id").GetInt64());

        var twice = await ServerProcess.CliAsync(data, "store", "copy", "--to", database);
        Assert.True(twice.ExitCode == 1, twice.ToString());
        Assert.Contains("already holds data", twice.Stderr, StringComparison.Ordinal);
    }
}
