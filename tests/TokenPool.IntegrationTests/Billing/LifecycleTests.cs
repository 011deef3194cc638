using System.Net;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using TokenPool.Billing;
using TokenPool.IntegrationTests.Infrastructure;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Billing;

/// <summary>Money across the server's life: a crash between reserve and settle, a normal shutdown, the operator's view.</summary>
public sealed class LifecycleTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Password = "correct horse battery staple";

    private static string ConnectionString(string dataDirectory) =>
        $"Data Source={Path.Combine(dataDirectory, "tokenpool.db")};Default Timeout=30;Pooling=False";

    private static async Task<long> ScalarAsync(string dataDirectory, string sql)
    {
        await using var connection = new SqliteConnection(ConnectionString(dataDirectory));
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task ServerKilledBetweenReserveAndSettle_ReleasesTheReservationOnRestart()
    {
        var data = Directory.CreateTempSubdirectory("tokenpool-crash-").FullName;
        try
        {
            Assert.Equal(0, (await ServerProcess.CliAsync(data, "user", "add", "--email", "crash@example.com", "--password", Password, "--credit", "5")).ExitCode);
            var created = await ServerProcess.CliAsync(data, "key", "create", "--email", "crash@example.com");
            Assert.Equal(0, created.ExitCode);
            var key = created.Stdout.Trim();

            await using (var server = await ServerProcess.StartAsync(data))
            {
                using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
                client.DefaultRequestHeaders.Authorization = Bearer(key);
                using var response = await client.SendAsync(
                    Post("v1/responses", """{"model":"gpt-5.5","input":"take your time","stream":true}""", "deltas=40 delay_events_ms=2000"),
                    HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(1, await ScalarAsync(data, "SELECT COUNT(*) FROM reservations"));
                Assert.True(await ScalarAsync(data, "SELECT reserved_micros FROM accounts WHERE email = 'crash@example.com'") > 0);

                await server.KillAsync();
            }

            // Dead server: the funds are still held.
            Assert.Equal(1, await ScalarAsync(data, "SELECT COUNT(*) FROM reservations"));
            Assert.True(await ScalarAsync(data, "SELECT balance_micros FROM accounts WHERE email = 'crash@example.com'") < 5_000_000);

            await using (var restarted = await ServerProcess.StartAsync(data))
            {
                Assert.Equal(0, await ScalarAsync(data, "SELECT COUNT(*) FROM reservations"));
                Assert.Equal(5_000_000, await ScalarAsync(data, "SELECT balance_micros FROM accounts WHERE email = 'crash@example.com'"));
                Assert.Equal(0, await ScalarAsync(data, "SELECT reserved_micros FROM accounts WHERE email = 'crash@example.com'"));
                // The request the crash cut off is charged nothing.
                Assert.Equal(0, await ScalarAsync(data, "SELECT COALESCE(SUM(charged_micros), 0) FROM usage_records"));
                Assert.Equal(0, await ScalarAsync(data, "SELECT charged_micros FROM accounts WHERE email = 'crash@example.com'"));
                var problems = await MoneyInvariant.CheckAsync(ConnectionString(data), 0, expectNoOpenReservations: true, CancellationToken.None);
                Assert.True(problems.Count == 0, string.Join('\n', problems));

                // The released funds can be spent again.
                using var client = new HttpClient { BaseAddress = restarted.Address, Timeout = TimeSpan.FromSeconds(60) };
                client.DefaultRequestHeaders.Authorization = Bearer(key);
                using var response = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.5","input":"hello again"}"""));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            var shown = await ServerProcess.CliAsync(data, "user", "show", "--email", "crash@example.com");
            Assert.Equal(0, shown.ExitCode);
            var account = JsonDocument.Parse(shown.Stdout).RootElement;
            Assert.Equal(0m, account.GetProperty("reserved_usd").GetDecimal());
            Assert.True(account.GetProperty("balance_usd").GetDecimal() is > 4.9m and < 5m);
        }
        finally
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Sigterm_WithTwentySlowStreams_LetsThemFinish_SettlesEveryOne_AndExitsWithZero()
    {
        var data = Directory.CreateTempSubdirectory("tokenpool-drain-").FullName;
        try
        {
            Assert.Equal(0, (await ServerProcess.CliAsync(data, "user", "add", "--email", "drain@example.com", "--password", Password, "--credit", "5")).ExitCode);
            var key = (await ServerProcess.CliAsync(data, "key", "create", "--email", "drain@example.com")).Stdout.Trim();
            await using var server = await ServerProcess.StartAsync(data);
            using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
            client.DefaultRequestHeaders.Authorization = Bearer(key);

            // Twenty streams of about four seconds each, all under way.
            var streams = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
            {
                var response = await client.SendAsync(
                    Post("v1/responses", $$"""{"model":"gpt-5.5","input":"slow stream {{i}}","stream":true}""", "deltas=40 delay_events_ms=100"),
                    HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                return response;
            }));
            var bodies = streams.Select(r => r.Content.ReadAsStringAsync()).ToList();

            var stopping = server.StopAsync();

            // At once: not ready any more, so a load balancer sends nothing new.
            using var probe = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(5) };
            Assert.True(await Api.EventuallyAsync(() => probe.GetAsync("readyz").GetAwaiter().GetResult().StatusCode == HttpStatusCode.ServiceUnavailable,
                TimeSpan.FromSeconds(3)), "readiness did not turn false");
            foreach (var body in bodies)
            {
                Assert.Contains("response.completed", await body, StringComparison.Ordinal);
            }

            await stopping;
            Assert.Equal(0, server.ExitCode);
            foreach (var response in streams)
            {
                response.Dispose();
            }

            Assert.Equal(20, await ScalarAsync(data, "SELECT COUNT(*) FROM usage_records WHERE status = 200 AND outcome = 'completed'"));
            Assert.Equal(0, await ScalarAsync(data, "SELECT COUNT(*) FROM reservations"));
            Assert.Equal(0, await ScalarAsync(data, "SELECT reserved_micros FROM accounts WHERE email = 'drain@example.com'"));
            Assert.True(await ScalarAsync(data, "SELECT charged_micros FROM accounts WHERE email = 'drain@example.com'") > 0);
            var problems = await MoneyInvariant.CheckAsync(ConnectionString(data), 0, expectNoOpenReservations: true, CancellationToken.None);
            Assert.True(problems.Count == 0, string.Join('\n', problems));
            Assert.Contains("Drained in", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task KillNine_UnderLoad_EveryRequestAnsweredMoreThan100MsBefore_IsRecordedAndChargedAfterTheRestart()
    {
        var data = Directory.CreateTempSubdirectory("tokenpool-kill-").FullName;
        try
        {
            Assert.Equal(0, (await ServerProcess.CliAsync(data, "user", "add", "--email", "kill@example.com", "--password", Password, "--credit", "50")).ExitCode);
            var key = (await ServerProcess.CliAsync(data, "key", "create", "--email", "kill@example.com")).Stdout.Trim();
            var answered = new System.Collections.Concurrent.ConcurrentBag<(string RequestId, long At)>();
            long killedAt;

            // Usage records gathered for half a second before each write: the bound must not depend on how records are batched.
            var slowBatches = new Dictionary<string, string> { ["TOKENPOOL_Billing__SettlementDelayMilliseconds"] = "500" };
            await using (var server = await ServerProcess.StartAsync(data, null, [], slowBatches))
            {
                using var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(30) };
                client.DefaultRequestHeaders.Authorization = Bearer(key);
                using var stop = new CancellationTokenSource();
                var workers = Enumerable.Range(0, 6).Select(w => Task.Run(async () =>
                {
                    for (var i = 0; i < 2_000 && !stop.IsCancellationRequested; i++)
                    {
                        try
                        {
                            using var response = await client.SendAsync(Post("v1/responses", $$"""{"model":"gpt-5.5","input":"worker {{w}} request {{i}}"}""", "usage=1000,200"), stop.Token);
                            _ = await response.Content.ReadAsStringAsync(stop.Token);
                            if (response.StatusCode == HttpStatusCode.OK)
                            {
                                answered.Add((RequestId(response), System.Diagnostics.Stopwatch.GetTimestamp()));
                            }
                        }
                        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException)
                        {
                            return;
                        }
                    }
                })).ToList();

                // Under steady load, long enough for many batches to be written and many to be under way.
                Assert.True(await Api.EventuallyAsync(() => answered.Count >= 300, TimeSpan.FromSeconds(60)), $"only {answered.Count} answered");
                killedAt = System.Diagnostics.Stopwatch.GetTimestamp();
                await server.KillAsync();
                await stop.CancelAsync();
                await Task.WhenAll(workers);
            }

            await using (var restarted = await ServerProcess.StartAsync(data))
            {
                await restarted.StopAsync();
            }

            var recorded = new HashSet<string>(StringComparer.Ordinal);
            await using (var connection = new SqliteConnection(ConnectionString(data)))
            {
                await connection.OpenAsync();
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT request_id FROM usage_records WHERE charged_micros > 0";
                await using var reader = await command.ExecuteReaderAsync();
                while (await reader.ReadAsync())
                {
                    recorded.Add(reader.GetString(0));
                }
            }

            double AgeAtKillMs(long at) => System.Diagnostics.Stopwatch.GetElapsedTime(at, killedAt).TotalMilliseconds;
            var missing = answered.Where(a => !recorded.Contains(a.RequestId)).Select(a => AgeAtKillMs(a.At)).OrderDescending().ToList();
            output.WriteLine($"answered before the kill: {answered.Count}; recorded and charged after the restart: {answered.Count - missing.Count}; " +
                $"lost: {missing.Count}, the oldest answered {(missing.Count == 0 ? 0 : missing[0]):F1} ms before the kill");
            Assert.All(missing, age => Assert.True(age < 100, $"a request answered {age:F1} ms before the kill has no usage record"));
            Assert.Equal(0, await ScalarAsync(data, "SELECT COUNT(*) FROM reservations"));
            var problems = await MoneyInvariant.CheckAsync(ConnectionString(data), 0, expectNoOpenReservations: true, CancellationToken.None);
            Assert.True(problems.Count == 0, string.Join('\n', problems));
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task NormalShutdown_RightAfterRequestsFinish_LosesNoUsageRecord()
    {
        var gateway = await TestGateway.StartAsync();
        var data = gateway.DataDirectory;
        var connection = gateway.ConnectionString;
        try
        {
            var (account, key) = await UserWithKeyAsync(gateway, 50_000_000);
            using var client = gateway.ClientWithKey(key);
            var statuses = await Task.WhenAll(Enumerable.Range(0, 60).Select(async i =>
            {
                using var response = await client.SendAsync(Post("v1/responses", $$"""{"model":"gpt-5.5","input":"request {{i}}","stream":{{(i % 2 == 0 ? "true" : "false")}}}"""));
                _ = await response.Content.ReadAsStringAsync();
                return response.StatusCode;
            }));
            Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));

            await gateway.StopAsync();

            Assert.Equal(60, await ScalarAsync(data, $"SELECT COUNT(*) FROM usage_records WHERE account_id = {account.Id} AND status = 200"));
            Assert.Equal(0, await ScalarAsync(data, "SELECT COUNT(*) FROM reservations"));
            Assert.Equal(60, await ScalarAsync(data, $"SELECT SUM(requests) FROM usage_daily WHERE account_id = {account.Id}"));
            var problems = await MoneyInvariant.CheckAsync(connection, 0, expectNoOpenReservations: true, CancellationToken.None);
            Assert.True(problems.Count == 0, string.Join('\n', problems));
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task UserShow_PrintsOneJsonObjectWithLifetimeTotals()
    {
        await using var gateway = await TestGateway.StartAsync();
        var email = $"show-{Guid.NewGuid():N}@example.com";
        var account = await gateway.CreateUserAsync(10m, email);
        var key = (await gateway.Get<Keys.ApiKeyService>().CreateAsync(account.Id, new Keys.NewKeySettings("cli"), null, CancellationToken.None)).Key;
        using var client = gateway.ClientWithKey(key);
        foreach (var sim in new[] { "usage=1000,200", "usage=3000,400,1000,50", "status=500" })
        {
            using var response = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.5","input":"hi"}""", sim));
        }

        await gateway.FlushUsageAsync();
        var expected = await AccountAsync(gateway, account.Id);

        var run = await ServerProcess.CliAsync(gateway.DataDirectory, "user", "show", "--email", email);

        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = run.Stdout.Trim().Split('\n');
        Assert.Single(lines);
        var json = JsonDocument.Parse(lines[0]).RootElement;
        Assert.Equal(JsonValueKind.Object, json.ValueKind);
        Assert.Equal(Money.ToDollars(expected.BalanceMicros), json.GetProperty("balance_usd").GetDecimal());
        Assert.Equal(0m, json.GetProperty("reserved_usd").GetDecimal());
        Assert.Equal(Money.ToDollars(expected.ChargedMicros), json.GetProperty("cost_usd").GetDecimal());
        Assert.Equal(10m - Money.ToDollars(expected.ChargedMicros), json.GetProperty("balance_usd").GetDecimal());
        Assert.Equal(3, json.GetProperty("requests").GetInt64());
        Assert.Equal(4000, json.GetProperty("input_tokens").GetInt64());
        Assert.Equal(600, json.GetProperty("output_tokens").GetInt64());

        var missing = await ServerProcess.CliAsync(gateway.DataDirectory, "user", "show", "--email", "nobody@example.com");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("nobody@example.com", missing.Stderr, StringComparison.Ordinal);
        Assert.Empty(missing.Stdout.Trim());
    }
}
