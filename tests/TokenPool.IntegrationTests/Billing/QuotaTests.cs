using System.Globalization;
using System.Net;
using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Billing;

/// <summary>
/// Quota that cannot be overspent: concurrent requests against a balance, a key's spend limit and a key's
/// expiry. Each request reports usage that costs exactly what was reserved for it, so the number that can
/// be afforded does not depend on timing.
/// </summary>
public abstract class QuotaTests(bool postgres) : IAsyncLifetime
{
    private const string Body = """{"model":"gpt-5.5","input":"count me in","max_output_tokens":1000}""";
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(options => options.Postgres = postgres);

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private string ExactCostSim => string.Create(CultureInfo.InvariantCulture, $"usage={InputEstimate(Body)},1000");

    [Fact]
    public async Task TwoHundredConcurrentRequests_AgainstBalanceForTwenty_ExactlyTwentySucceed()
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var (account, key) = await UserWithKeyAsync(_gateway, (20 * amount) + amount - 1);
        var bystander = await _gateway.CreateUserAsync(1m);
        using var client = _gateway.ClientWithKey(key);

        // Other writers (an admin granting credit in the console, the CLI) work on the same store meanwhile.
        using var stop = new CancellationTokenSource();
        var grants = Task.Run(async () =>
        {
            for (var i = 0; i < 40 && !stop.IsCancellationRequested; i++)
            {
                await _gateway.Get<AccountService>().ChangeCreditAsync(bystander.Id, 1_000, "test grant", null, CancellationToken.None);
            }
        });
        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
        {
            using var response = await client.SendAsync(Post("v1/responses", Body, ExactCostSim));
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));
        await stop.CancelAsync();
        await grants;

        Assert.Equal(20, results.Count(r => r.StatusCode == HttpStatusCode.OK));
        var refused = results.Where(r => r.StatusCode != HttpStatusCode.OK).ToList();
        Assert.Equal(180, refused.Count);
        Assert.All(refused, r =>
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
            var error = Error(r.Body);
            Assert.Equal("insufficient_quota", error.GetProperty("code").GetString());
            Assert.Equal("insufficient_quota", error.GetProperty("type").GetString());
            Assert.Contains("no available quota", error.GetProperty("message").GetString(), StringComparison.Ordinal);
            Assert.Contains(_gateway.Address.ToString().TrimEnd('/') + "/console/usage", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        });

        await _gateway.AssertMoneyInvariantAsync();
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(amount - 1, after.BalanceMicros);
        Assert.Equal(20 * amount, after.ChargedMicros);
        Assert.Equal(0, after.ReservedMicros);
        var records = await RecordsAsync(_gateway, account.Id);
        Assert.Equal(200, records.Count);
        Assert.Equal(20, records.Count(r => r.Status == 200 && r.ChargedMicros == amount && !r.IsEstimated));
        Assert.All(records.Where(r => r.Status == 429), r => Assert.Equal(0, r.ChargedMicros));
        Assert.DoesNotContain("database is locked", _gateway.Logs.All, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(1_000_000 + 40_000, (await AccountAsync(_gateway, bystander.Id)).BalanceMicros);
    }

    [Fact]
    public async Task FiftyConcurrentRequestsCostingADollarInAll_AgainstFiveDollars_AreAllServed()
    {
        // Codex-sized requests without an output limit: each holds the model's default reserve, and fifty such holds are
        // more than the balance, although what they really cost together is a fifth of it.
        const string body = """{"model":"gpt-5.5","input":"a burst from one agent","stream":false}""";
        var price = _gateway.Get<PriceCatalog>().Find("gpt-5.5")!;
        var hold = ReserveFor(_gateway, body, "gpt-5.5", price.ReserveOutputTokens);
        var output = (20_000 - Pricing.Cost(new TokenUsage(InputEstimate(body), 0, 0, 0), price)) * 1_000_000 / price.OutputMicrosPerMillion;
        var cost = Pricing.Cost(new TokenUsage(InputEstimate(body), 0, output, 0), price);
        Assert.True(50 * hold > 5_000_000, "the holds alone must not fit the balance");
        Assert.InRange(50 * cost, 900_000, 1_000_000);
        var (account, key) = await UserWithKeyAsync(_gateway, 5_000_000);
        using var client = _gateway.ClientWithKey(key);
        var sim = string.Create(CultureInfo.InvariantCulture, $"usage={InputEstimate(body)},{output} delay_headers_ms=50");

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var response = await client.SendAsync(Post("v1/responses", body, sim));
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.True(results.All(r => r.StatusCode == HttpStatusCode.OK),
            string.Join('\n', results.Where(r => r.StatusCode != HttpStatusCode.OK).Select(r => $"{(int)r.StatusCode} {r.Body}").Distinct()));
        await _gateway.AssertMoneyInvariantAsync();
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(50 * cost, after.ChargedMicros);
        Assert.Equal(5_000_000 - (50 * cost), after.BalanceMicros);
    }

    [Fact]
    public async Task TwoHundredConcurrentRequests_AgainstKeySpendLimitForTwenty_ExactlyTwentySucceed()
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var (account, key) = await UserWithKeyAsync(_gateway, 1_000 * amount, new NewKeySettings("limited", SpendLimitMicros: (20 * amount) + amount - 1));
        using var client = _gateway.ClientWithKey(key);

        var results = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
        {
            using var response = await client.SendAsync(Post("v1/responses", Body, ExactCostSim));
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.Equal(20, results.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.All(results.Where(r => r.StatusCode != HttpStatusCode.OK), r =>
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
            var error = Error(r.Body);
            Assert.Equal("insufficient_quota", error.GetProperty("code").GetString());
            var message = error.GetProperty("message").GetString()!;
            Assert.Contains("spend limit", message, StringComparison.Ordinal);
            Assert.Contains("no available quota", message, StringComparison.Ordinal);
            Assert.Contains("/console/usage", message, StringComparison.Ordinal);
        });

        await _gateway.AssertMoneyInvariantAsync();
        var keyRow = await KeyRowAsync(_gateway, account.Id);
        Assert.Equal(20 * amount, keyRow.ChargedMicros);
        Assert.Equal(0, keyRow.ReservedMicros);
        Assert.Equal(980 * amount, (await AccountAsync(_gateway, account.Id)).BalanceMicros);
    }

    [Fact]
    public async Task ExpiredKey_IsRefusedConcurrently_AndNothingIsCharged()
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var (account, key) = await UserWithKeyAsync(_gateway, 100 * amount, new NewKeySettings("short-lived", DateTime.UtcNow.AddSeconds(2)));
        using var client = _gateway.ClientWithKey(key);
        using (var first = await client.SendAsync(Post("v1/responses", Body, ExactCostSim)))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        await Task.Delay(2_500);
        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var response = await client.SendAsync(Post("v1/responses", Body, ExactCostSim));
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        Assert.All(results, r =>
        {
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
            Assert.Contains("expired", Error(r.Body).GetProperty("message").GetString(), StringComparison.Ordinal);
        });
        await _gateway.AssertMoneyInvariantAsync();
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(amount, after.ChargedMicros);
        Assert.Equal(99 * amount, after.BalanceMicros);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AnswerCostingMoreThanItsReserve_IsChargedOnlyUpToTheBalanceOrKeyLimit(bool keyLimit)
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var bound = amount + 100;
        var (account, key) = keyLimit
            ? await UserWithKeyAsync(_gateway, 1_000 * amount, new NewKeySettings("capped", SpendLimitMicros: bound))
            : await UserWithKeyAsync(_gateway, bound);
        using var client = _gateway.ClientWithKey(key);

        // The upstream ignores max_output_tokens and bills 50 times the reserved output.
        using var response = await client.SendAsync(Post("v1/responses", Body, string.Create(CultureInfo.InvariantCulture, $"usage={InputEstimate(Body)},50000")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var record = await WaitForRecordAsync(_gateway, RequestId(response));
        Assert.True(record.CostMicros > bound);
        Assert.Equal(bound, record.ChargedMicros);
        Assert.Equal(bound, (await KeyRowAsync(_gateway, account.Id)).ChargedMicros);
        Assert.Equal(keyLimit ? (1_000 * amount) - bound : 0, (await AccountAsync(_gateway, account.Id)).BalanceMicros);
        await _gateway.AssertMoneyInvariantAsync();

        using var next = await client.SendAsync(Post("v1/responses", Body, ExactCostSim));
        Assert.Equal(HttpStatusCode.TooManyRequests, next.StatusCode);
    }

    [Fact]
    public async Task MoneyInvariantChecker_ReportsTamperedBalancesAndOpenReservations()
    {
        var (account, key) = await UserWithKeyAsync(_gateway, 5_000_000);
        using var client = _gateway.ClientWithKey(key);
        using (var response = await client.SendAsync(Post("v1/responses", Body, ExactCostSim)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await _gateway.AssertMoneyInvariantAsync();
        var identity = (await _gateway.Get<ApiKeyCache>().FindAsync(key, CancellationToken.None))!;
        var now = DateTime.UtcNow;
        await _gateway.Get<QuotaLedger>().ReserveAsync(identity, 1_000, now, now.AddHours(1), CancellationToken.None);
        await _gateway.ScalarAsync($"UPDATE accounts SET balance_micros = balance_micros + 7 WHERE id = {account.Id}");

        var problems = await MoneyInvariant.CheckAsync(_gateway.Store, 0, expectNoOpenReservations: true, CancellationToken.None);

        Assert.Contains(problems, p => p.StartsWith($"account {account.Id}: balance", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains($"reservation {_gateway.Get<QuotaLedger>().LeaseId(account.Id, identity.KeyId)} of 32000 is still open", StringComparison.Ordinal));
        Assert.DoesNotContain(problems, p => p.StartsWith("key ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SettlingTheSameRequestTwice_ChargesOnce()
    {
        var (account, key) = await UserWithKeyAsync(_gateway, 5_000_000);
        var identity = (await _gateway.Get<ApiKeyCache>().FindAsync(key, CancellationToken.None))!;
        var ledger = _gateway.Get<QuotaLedger>();
        var now = DateTime.UtcNow;
        Assert.Equal(ReserveOutcome.Reserved, await ledger.ReserveAsync(identity, 300_000, now, now.AddHours(1), CancellationToken.None));
        var record = new UsageRecord
        {
            RequestId = "req_twice", CreatedAt = now, AccountId = account.Id, KeyId = identity.KeyId, Model = "gpt-5.5",
            Endpoint = "responses", Status = 200, Outcome = "completed", InputTokens = 1000, OutputTokens = 100, CostMicros = 2_250,
        };
        var writer = _gateway.Get<UsageWriter>();

        await writer.EnqueueAsync(new Settlement(record, 300_000, HasReservation: true));
        await writer.EnqueueAsync(new Settlement(record, 300_000, HasReservation: true));
        await writer.WriteNowAsync([new Settlement(record, 300_000, HasReservation: true)], CancellationToken.None);
        await _gateway.FlushUsageAsync();

        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(5_000_000 - 2_250, after.BalanceMicros);
        Assert.Equal(2_250, after.ChargedMicros);
        Assert.Single(await RecordsAsync(_gateway, account.Id));
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task OneSettlementBatch_ChargesWhatFitsTheBalance_AsSettlingOneByOneWould()
    {
        var (account, key) = await UserWithKeyAsync(_gateway, 1_000_000);
        var identity = (await _gateway.Get<ApiKeyCache>().FindAsync(key, CancellationToken.None))!;
        var ledger = _gateway.Get<QuotaLedger>();
        var now = DateTime.UtcNow;
        var batch = new List<Settlement> { new(Record("req_refused", account.Id, identity.KeyId, now, 0), 0, HasReservation: false) };
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(ReserveOutcome.Reserved, await ledger.ReserveAsync(identity, 200_000, now, now.AddHours(1), CancellationToken.None));
            batch.Add(new Settlement(Record($"req_batch_{i}", account.Id, identity.KeyId, now.AddSeconds(i), 400_000), 200_000, HasReservation: true));
        }

        await _gateway.Get<UsageWriter>().WriteNowAsync(batch, CancellationToken.None);

        // 1.6 dollars of cost against 1 dollar of credit: the first request is charged in full, the rest only what is left.
        var records = await RecordsAsync(_gateway, account.Id);
        Assert.Equal([400_000, 200_000, 200_000, 200_000], records.Where(r => r.RequestId.StartsWith("req_batch_", StringComparison.Ordinal)).OrderBy(r => r.RequestId).Select(r => r.ChargedMicros));
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(0, after.BalanceMicros);
        Assert.Equal(1_000_000, after.ChargedMicros);
        Assert.Equal(0, after.ReservedMicros);
        Assert.Equal(now.AddSeconds(3), (await KeyRowAsync(_gateway, account.Id)).LastUsedAt!.Value, TimeSpan.FromMilliseconds(1));
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task OneSettlementBatch_KeepsAKeyWithinItsSpendLimit_AfterASettlementWithoutReservation()
    {
        var (account, key) = await UserWithKeyAsync(_gateway, 10_000_000, new NewKeySettings("limited", SpendLimitMicros: 500_000));
        var identity = (await _gateway.Get<ApiKeyCache>().FindAsync(key, CancellationToken.None))!;
        var ledger = _gateway.Get<QuotaLedger>();
        var now = DateTime.UtcNow;
        var batch = new List<Settlement> { new(Record("req_refused_first", account.Id, identity.KeyId, now, 0), 0, HasReservation: false) };
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(ReserveOutcome.Reserved, await ledger.ReserveAsync(identity, 200_000, now, now.AddHours(1), CancellationToken.None));
            batch.Add(new Settlement(Record($"req_limited_{i}", account.Id, identity.KeyId, now, 400_000), 200_000, HasReservation: true));
        }

        await _gateway.Get<UsageWriter>().WriteNowAsync(batch, CancellationToken.None);

        var keyRow = await KeyRowAsync(_gateway, account.Id);
        Assert.Equal(500_000, keyRow.ChargedMicros);
        Assert.Equal(0, keyRow.ReservedMicros);
        Assert.Equal(10_000_000 - 500_000, (await AccountAsync(_gateway, account.Id)).BalanceMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task SettlingAfterTheLeaseWasReleased_ChargesNothingAndSaysWhy()
    {
        var (account, key) = await UserWithKeyAsync(_gateway, 5_000_000);
        var identity = (await _gateway.Get<ApiKeyCache>().FindAsync(key, CancellationToken.None))!;
        var ledger = _gateway.Get<QuotaLedger>();
        var now = DateTime.UtcNow;
        Assert.Equal(ReserveOutcome.Reserved, await ledger.ReserveAsync(identity, 100_000, now, now.AddHours(1), CancellationToken.None));
        Assert.Equal(ReserveOutcome.Reserved, await ledger.ReserveAsync(identity, 100_000, now, now.AddHours(1), CancellationToken.None));
        List<Reservation> rows;
        await using (var db = await _gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync())
        {
            rows = await db.Reservations.AsNoTracking().Where(r => r.AccountId == account.Id).ToListAsync();
        }

        // Reconciliation took the lease for dead (its expiry passed): the whole row went back to the balance.
        await ledger.ReleaseRowsAsync(rows, CancellationToken.None);
        await _gateway.Get<UsageWriter>().WriteNowAsync(
        [
            new Settlement(Record("req_late_0", account.Id, identity.KeyId, now, 50_000), 100_000, HasReservation: true),
            new Settlement(Record("req_late_1", account.Id, identity.KeyId, now, 50_000), 100_000, HasReservation: true),
        ], CancellationToken.None);
        await _gateway.FlushUsageAsync();

        var records = await RecordsAsync(_gateway, account.Id);
        Assert.Equal(2, records.Count);
        Assert.All(records, r =>
        {
            Assert.Equal(0, r.ChargedMicros);
            Assert.Equal(50_000, r.CostMicros);
            Assert.Contains("reservation was released before it finished", r.Note, StringComparison.Ordinal);
        });
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(5_000_000, after.BalanceMicros);
        Assert.Equal(0, after.ChargedMicros);
        Assert.Equal(0, after.ReservedMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    private static UsageRecord Record(string requestId, long accountId, long keyId, DateTime at, long costMicros) => new()
    {
        RequestId = requestId, CreatedAt = at, AccountId = accountId, KeyId = keyId, Model = "gpt-5.5",
        Endpoint = "responses", Status = 200, Outcome = "completed", InputTokens = 1000, OutputTokens = 100, CostMicros = costMicros,
    };
}

/// <summary>The quota tests on SQLite.</summary>
public sealed class QuotaOnSqliteTests() : QuotaTests(postgres: false);

/// <summary>The quota tests on PostgreSQL.</summary>
public sealed class QuotaOnPostgresTests() : QuotaTests(postgres: true);
