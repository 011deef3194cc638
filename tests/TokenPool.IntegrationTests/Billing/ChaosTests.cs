using System.Globalization;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Billing;

/// <summary>The money invariant after a mix of concurrent requests, upstream faults and client disconnects, with an overdraft bound.</summary>
public abstract class ChaosTests(bool postgres) : IAsyncLifetime
{
    private const long OverdraftMicros = 2_000;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(options =>
    {
        options.Postgres = postgres;
        options.Channels = 2;
        options.Settings["Billing:OverdraftUsd"] = "0.002";
    });

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task MixedConcurrentTrafficWithFaultsAndDisconnects_KeepsTheMoneyInvariant()
    {
        const string body = """{"model":"gpt-5.5","input":"chaos","max_output_tokens":500,"stream":STREAM}""";
        var amount = ReserveFor(_gateway, body, "gpt-5.5", 500);
        var (account, key) = await UserWithKeyAsync(_gateway, 40 * amount);
        var (limitedAccount, limitedKey) = await UserWithKeyAsync(_gateway, 1_000 * amount, new NewKeySettings("limited", SpendLimitMicros: 15 * amount));
        string[] faults =
        [
            "", "usage=20,400", "usage=20,5000", "status=500", "status=429 retry_after=0.1", "drop_after=5 delay_events_ms=10",
            "no_usage", "bad_usage", "fail_after=4", "deltas=30 delay_events_ms=40", "close_after_headers",
        ];
        var random = new Random(7);
        var plan = Enumerable.Range(0, 240).Select(i => (
            Key: i % 3 == 0 ? limitedKey : key,
            Fault: faults[random.Next(faults.Length)],
            Stream: random.Next(2) == 0,
            CancelAfterMs: random.Next(6) == 0 ? random.Next(5, 200) : -1)).ToList();
        using var client = new HttpClient { BaseAddress = _gateway.Address, Timeout = TimeSpan.FromSeconds(60) };

        var statuses = await Task.WhenAll(plan.Select(async p =>
        {
            using var request = Post("v1/responses", body.Replace("STREAM", p.Stream ? "true" : "false", StringComparison.Ordinal), p.Fault);
            request.Headers.Authorization = Bearer(p.Key);
            using var cancel = new CancellationTokenSource();
            if (p.CancelAfterMs >= 0)
            {
                cancel.CancelAfter(p.CancelAfterMs);
            }

            try
            {
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
                _ = await response.Content.ReadAsStringAsync(cancel.Token);
                return (int)response.StatusCode;
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
            catch (HttpRequestException)
            {
                return -1;
            }
        }));

        // Disconnected requests settle once their relay notices; wait (bounded) until nothing is in flight.
        for (var i = 0; i < 200 && (await AccountAsync(_gateway, account.Id)).ReservedMicros + (await AccountAsync(_gateway, limitedAccount.Id)).ReservedMicros > 0; i++)
        {
            await Task.Delay(50);
            await _gateway.FlushUsageAsync();
        }

        await _gateway.AssertMoneyInvariantAsync();
        Assert.Contains(200, statuses);
        Assert.Contains(429, statuses);
        Assert.DoesNotContain(-1, statuses);
        Assert.All(statuses, s => Assert.True(s is 0 or 200 or 429 or 500 or 502 or 503, s.ToString(CultureInfo.InvariantCulture)));
        var logs = _gateway.Logs.All;
        Assert.DoesNotContain("database is locked", logs, StringComparison.OrdinalIgnoreCase);
        var unexpected = logs.IndexOf("failed unexpectedly", StringComparison.Ordinal);
        Assert.True(unexpected < 0, unexpected < 0 ? "" : logs.Substring(unexpected, Math.Min(3000, logs.Length - unexpected)));
        Assert.DoesNotContain("could not be written", logs, StringComparison.Ordinal);

        var records = await RecordsAsync(_gateway, account.Id);
        var answered = plan.Zip(statuses).Count(x => x.First.Key == key && x.Second > 0);
        Assert.InRange(records.Count, answered, plan.Count(p => p.Key == key));
        Assert.True((await AccountAsync(_gateway, account.Id)).BalanceMicros >= -OverdraftMicros);
        Assert.True((await KeyRowAsync(_gateway, limitedAccount.Id)).ChargedMicros <= (15 * amount) + OverdraftMicros);
    }
}

/// <summary>The chaos test on SQLite.</summary>
public sealed class ChaosOnSqliteTests() : ChaosTests(postgres: false);

/// <summary>The chaos test on PostgreSQL.</summary>
public sealed class ChaosOnPostgresTests() : ChaosTests(postgres: true);
