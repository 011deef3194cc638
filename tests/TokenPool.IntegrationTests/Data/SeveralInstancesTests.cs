using System.Diagnostics;
using System.Globalization;
using System.Net;
using Npgsql;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Data;

/// <summary>
/// Two real <c>tokenpool serve</c> processes on one PostgreSQL database, each with its own data folder and the shared
/// secrets, as a deployment behind a load balancer runs them: one set of books.
/// </summary>
public sealed class SeveralInstancesTests : IAsyncLifetime
{
    private const string Password = "correct horse battery staple";
    private const string Body = """{"model":"gpt-5.5","input":"two instances","max_output_tokens":1000}""";
    private string _root = null!;
    private string _database = null!;

    private string Secrets => Path.Combine(_root, "secrets");

    public async Task InitializeAsync()
    {
        _root = Directory.CreateTempSubdirectory("tokenpool-instances-").FullName;
        _database = await TestPostgres.CreateDatabaseAsync("instances");
    }

    public async Task DisposeAsync()
    {
        await TestPostgres.DropDatabaseAsync(_database);
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task TwoHundredConcurrentRequestsOverTwoInstances_NeverSpendPastTheBalance_AndEachIsChargedOnce()
    {
        var price = PriceCatalog.DefaultRows(DateTime.UtcNow).First(p => p.Model == "gpt-5.5");
        var input = InputEstimate(Body);
        var amount = Pricing.Cost(new TokenUsage(input, 0, 1000, 0), price);
        var key = await UserWithKeyAsync("burst@example.com", Money.ToDollars((20 * amount) + amount - 1));
        var (a, b) = await StartPairAsync();
        await using (a)
        await using (b)
        {
            var sim = string.Create(CultureInfo.InvariantCulture, $"usage={input},1000");
            var statuses = await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
            {
                using var client = Client(i % 2 == 0 ? a : b, key);
                using var response = await client.SendAsync(Post("v1/responses", Body, sim));
                return response.StatusCode;
            }));

            Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.OK));
            Assert.Equal(180, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
            await a.StopAsync();
            await b.StopAsync();
        }

        Assert.Equal(200, await ScalarAsync("SELECT COUNT(*) FROM usage_records"));
        Assert.Equal(20 * amount, await ScalarAsync("SELECT charged_micros FROM accounts WHERE email = 'burst@example.com'"));
        Assert.Equal(amount - 1, await ScalarAsync("SELECT balance_micros FROM accounts WHERE email = 'burst@example.com'"));
        var problems = await MoneyInvariant.CheckAsync(new StoreConnection(StoreProvider.Postgres, _database), 0, expectNoOpenReservations: true, CancellationToken.None);
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [Fact]
    public async Task KeyDeletedElsewhere_IsRefusedByBothInstancesWithinASecond()
    {
        var key = await UserWithKeyAsync("revoke@example.com", 5m);
        var (a, b) = await StartPairAsync();
        await using (a)
        await using (b)
        {
            using var clientA = Client(a, key);
            using var clientB = Client(b, key);
            foreach (var client in new[] { clientA, clientB })
            {
                using var warm = await client.SendAsync(Post("v1/responses", Body));
                Assert.Equal(HttpStatusCode.OK, warm.StatusCode);
            }

            var deleted = await Cli("key", "delete", "--email", "revoke@example.com", "--id", "1");
            Assert.True(deleted.ExitCode == 0, deleted.ToString());
            var since = Stopwatch.StartNew();
            foreach (var client in new[] { clientB, clientA })
            {
                while (true)
                {
                    using var response = await client.SendAsync(Post("v1/responses", Body));
                    if (response.StatusCode == HttpStatusCode.Unauthorized)
                    {
                        break;
                    }

                    Assert.True(since.Elapsed < TimeSpan.FromSeconds(5), "the deleted key still works after 5 s");
                    await Task.Delay(20);
                }
            }

            Assert.True(since.Elapsed < TimeSpan.FromSeconds(1), $"the deleted key was refused by both after {since.ElapsedMilliseconds} ms");
        }
    }

    [Fact]
    public async Task InstanceKilledMidStream_HasItsLeasesReleasedByTheOther_WithinTheBound()
    {
        var key = await UserWithKeyAsync("killed@example.com", 5m);
        var (a, b) = await StartPairAsync(new Dictionary<string, string> { ["TOKENPOOL_Store__InstanceTimeoutSeconds"] = "3" });
        await using (a)
        await using (b)
        {
            using var client = Client(a, key);
            using var stream = await client.SendAsync(
                Post("v1/responses", """{"model":"gpt-5.5","input":"take your time","stream":true}""", "deltas=40 delay_events_ms=2000"),
                HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
            Assert.True(await ScalarAsync("SELECT reserved_micros FROM accounts WHERE email = 'killed@example.com'") > 0);

            await a.KillAsync();
            var since = Stopwatch.StartNew();
            while (await ScalarAsync("SELECT COUNT(*) FROM reservations") > 0)
            {
                Assert.True(since.Elapsed < TimeSpan.FromSeconds(20), "the killed instance's lease is still held after 20 s");
                await Task.Delay(100);
            }

            // Bound: the timeout (3 s) plus one heartbeat round of the survivor (2 s), with room for a loaded machine.
            Assert.True(since.Elapsed < TimeSpan.FromSeconds(9), $"released after {since.ElapsedMilliseconds} ms");
            Assert.Equal(5_000_000, await ScalarAsync("SELECT balance_micros FROM accounts WHERE email = 'killed@example.com'"));
            Assert.True(await Api.EventuallyAsync(() => b.Output.Contains("stopped heart-beating; released its 1 leases", StringComparison.Ordinal), TimeSpan.FromSeconds(5)), b.Output);

            // The survivor serves the account from the released balance.
            using var survivor = Client(b, key);
            using var response = await survivor.SendAsync(Post("v1/responses", Body));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private async Task<(ServerProcess A, ServerProcess B)> StartPairAsync(Dictionary<string, string>? environment = null)
    {
        var flags = new[] { "--database", _database, "--secrets", Secrets };
        var a = await ServerProcess.StartAsync(Path.Combine(_root, "a-" + Guid.NewGuid().ToString("N")), null, flags, environment);
        var b = await ServerProcess.StartAsync(Path.Combine(_root, "b-" + Guid.NewGuid().ToString("N")), null, flags, environment);
        return (a, b);
    }

    private async Task<string> UserWithKeyAsync(string email, decimal credit)
    {
        var added = await Cli("user", "add", "--email", email, "--password", Password, "--credit", credit.ToString(CultureInfo.InvariantCulture));
        Assert.True(added.ExitCode == 0, added.ToString());
        var key = await Cli("key", "create", "--email", email);
        Assert.True(key.ExitCode == 0, key.ToString());
        return key.Stdout.Trim();
    }

    private Task<ClientRun> Cli(params string[] arguments) =>
        ServerProcess.CliAsync(Path.Combine(_root, "cli"), [.. arguments, "--database", _database, "--secrets", Secrets]);

    private static HttpClient Client(ServerProcess server, string key)
    {
        var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = Bearer(key);
        return client;
    }

    private async Task<long> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L, CultureInfo.InvariantCulture);
    }
}
