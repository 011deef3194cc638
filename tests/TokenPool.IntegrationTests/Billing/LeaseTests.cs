using System.Globalization;
using System.Net;
using TokenPool.Billing;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Billing;

/// <summary>
/// Balance leases: requests hold their reserve from room reserved for their key in one atomic top-up, so
/// most requests write nothing before going upstream, while every promise of the quota still holds: what
/// the user sees as available, no spending past a changed limit or a deleted key, and unused room going
/// back to the balance by itself.
/// </summary>
public abstract class LeaseTests(bool postgres) : IAsyncLifetime
{
    private const string Body = """{"model":"gpt-5.5","input":"lease me","max_output_tokens":1000}""";
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(options =>
    {
        options.Postgres = postgres;
        options.Settings["Billing:LeaseRequests"] = "8";
        options.Settings["Billing:LeaseIdleSeconds"] = "1";
    });

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private string ExactCostSim => string.Create(CultureInfo.InvariantCulture, $"usage={InputEstimate(Body)},1000");

    [Fact]
    public async Task SixteenRequestsInARow_TouchTheStoreOnlyForAFewLeaseTopUps_AndAreChargedExactly()
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var (account, key) = await UserWithKeyAsync(_gateway, 100 * amount);
        using var client = _gateway.ClientWithKey(key);
        var ledger = _gateway.Get<QuotaLedger>();
        var keys = _gateway.Get<ApiKeyCache>();
        var before = ledger.TopUps;
        var keyReadsBefore = keys.StoreReads;

        for (var i = 0; i < 16; i++)
        {
            await SendServedAsync(client);
        }

        // One top-up holds room for eight requests like these: sixteen requests need two, or three when a refill made
        // ahead of need (once a quarter of the room is left) lands before the room runs out. The key is read from the
        // store once, when the cache first meets it; every other request goes upstream without a round trip.
        Assert.InRange(ledger.TopUps - before, 2, 3);
        Assert.Equal(1, keys.StoreReads - keyReadsBefore);
        await _gateway.FlushUsageAsync();
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(100 * amount - (16 * amount), after.BalanceMicros);
        Assert.Equal(16 * amount, after.ChargedMicros);
        Assert.Equal(0, after.ReservedMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task UnusedLeaseRoom_CountsAsAvailable_AndGoesBackToTheBalanceWhenTheKeyIsIdle()
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var (account, key) = await UserWithKeyAsync(_gateway, 100 * amount);
        using var client = _gateway.ClientWithKey(key);
        await SendServedAsync(client);

        await _gateway.Get<UsageWriter>().FlushAsync();

        // The lease holds room for seven more requests; the user still sees it as theirs to spend.
        var summary = await _gateway.Get<UsageQueries>().SummaryAsync(account.Id, CancellationToken.None);
        Assert.Equal(99 * amount, summary.BalanceMicros);
        Assert.Equal(0, summary.ReservedMicros);
        using (var balance = await client.GetAsync("v1/user/balance"))
        {
            Assert.Equal(HttpStatusCode.OK, balance.StatusCode);
            var json = System.Text.Json.JsonDocument.Parse(await balance.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal(Money.ToDollars(99 * amount), json.GetProperty("balance").GetDecimal());
            Assert.Equal(0m, json.GetProperty("reserved").GetDecimal());
        }

        // With nothing else to do, the room goes back on its own (idle after 1 s here).
        var returned = await Api.EventuallyAsync(() => ReservedInStore(account.Id) == 0, TimeSpan.FromSeconds(10));
        Assert.True(returned, $"the lease still holds {ReservedInStore(account.Id)} micro-USD after 10 s of idleness");
        Assert.Equal(99 * amount, (await AccountAsync(_gateway, account.Id)).BalanceMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task KeyDeletedWhileItsLeaseHasRoom_IsRefusedByTheVeryNextRequest()
    {
        var (account, key) = await UserWithKeyAsync(_gateway, 10_000_000);
        using var client = _gateway.ClientWithKey(key);
        await SendServedAsync(client);

        var keyId = (await KeyRowAsync(_gateway, account.Id)).Id;
        Assert.True(_gateway.Get<QuotaLedger>().UnusedMicros(account.Id, keyId) > 0);
        Assert.True(await _gateway.Get<ApiKeyService>().DeleteAsync(account.Id, keyId, null, CancellationToken.None));

        using var refused = await client.SendAsync(Post("v1/responses", Body, ExactCostSim));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("was deleted", Error(await refused.Content.ReadAsStringAsync()).GetProperty("message").GetString(), StringComparison.Ordinal);

        // The deleted key's room goes back to the balance.
        Assert.True(await Api.EventuallyAsync(() => ReservedInStore(account.Id) == 0, TimeSpan.FromSeconds(10)));
        Assert.Equal(10_000_000 - (await AccountAsync(_gateway, account.Id)).ChargedMicros, (await AccountAsync(_gateway, account.Id)).BalanceMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task SpendLimitLoweredWhileTheLeaseHasRoom_StopsTheNextRequest()
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var (account, key) = await UserWithKeyAsync(_gateway, 10_000_000, new NewKeySettings("limited", SpendLimitMicros: 50 * amount));
        using var client = _gateway.ClientWithKey(key);
        await SendServedAsync(client);

        var keyId = (await KeyRowAsync(_gateway, account.Id)).Id;
        Assert.True(_gateway.Get<QuotaLedger>().UnusedMicros(account.Id, keyId) >= amount, "the lease should hold room for more requests");

        // The limit now leaves room for less than one more request: the room the lease holds must not be spent.
        Assert.True(await _gateway.Get<ApiKeyService>().UpdateAsync(account.Id, keyId,
            new NewKeySettings("limited", SpendLimitMicros: amount + (amount / 2)), null, CancellationToken.None));
        using (var allowed = await client.SendAsync(Post("v1/responses", Body, ExactCostSim)))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, allowed.StatusCode);
            Assert.Contains("spend limit", Error(await allowed.Content.ReadAsStringAsync()).GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        await _gateway.FlushUsageAsync();
        Assert.Equal(amount, (await KeyRowAsync(_gateway, account.Id)).ChargedMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task AnswerCostingMoreThanItsReserve_IsChargedInFull_WhenTheLeaseHoldsTheRestOfTheBalance()
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var (account, key) = await UserWithKeyAsync(_gateway, 10 * amount);
        using var client = _gateway.ClientWithKey(key);
        await SendServedAsync(client);

        // The upstream ignores max_output_tokens and bills four times the reserved output. Most of the balance sits in
        // the key's lease, not in the balance column; it still pays for the answer.
        var price = _gateway.Get<PriceCatalog>().Find("gpt-5.5")!;
        var cost = Pricing.Cost(new TokenUsage(InputEstimate(Body), 0, 4000, 0), price);
        Assert.True(cost < 9 * amount);
        using (var response = await client.SendAsync(Post("v1/responses", Body,
            string.Create(CultureInfo.InvariantCulture, $"usage={InputEstimate(Body)},4000"))))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await _gateway.FlushUsageAsync();
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(amount + cost, after.ChargedMicros);
        Assert.Equal((10 * amount) - amount - cost, after.BalanceMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task TwoKeysOfOneAccount_ShareTheBalance_WhenOneKeysLeaseHoldsMostOfIt()
    {
        var amount = ReserveFor(_gateway, Body, "gpt-5.5", 1000);
        var (account, first) = await UserWithKeyAsync(_gateway, 10 * amount);
        var second = (await _gateway.Get<ApiKeyService>().CreateAsync(account.Id, new NewKeySettings("second"), null, CancellationToken.None)).Key;
        using var firstClient = _gateway.ClientWithKey(first);
        using var secondClient = _gateway.ClientWithKey(second);
        await SendServedAsync(firstClient);

        // The first key's lease took room for eight requests of the ten the balance covers.
        await _gateway.Get<UsageWriter>().FlushAsync();
        Assert.True(ReservedInStore(account.Id) >= 7 * amount);

        // The second key can still spend the whole rest: nine more requests in all, not one more.
        var served = 0;
        for (var i = 0; i < 10; i++)
        {
            using var response = await (i % 2 == 0 ? secondClient : firstClient).SendAsync(Post("v1/responses", Body, ExactCostSim));
            if (response.StatusCode == HttpStatusCode.OK)
            {
                served++;
            }
            else
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
            }
        }

        Assert.Equal(9, served);
        await _gateway.FlushUsageAsync();
        Assert.Equal(0, (await AccountAsync(_gateway, account.Id)).BalanceMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    /// <summary>Sends one request that costs exactly its reserve and checks that it was served.</summary>
    private async Task SendServedAsync(HttpClient client)
    {
        using var response = await client.SendAsync(Post("v1/responses", Body, ExactCostSim));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private long ReservedInStore(long accountId) =>
        _gateway.ScalarAsync($"SELECT reserved_micros FROM accounts WHERE id = {accountId}").GetAwaiter().GetResult();
}

/// <summary>The lease tests on SQLite.</summary>
public sealed class LeaseOnSqliteTests() : LeaseTests(postgres: false);

/// <summary>The lease tests on PostgreSQL.</summary>
public sealed class LeaseOnPostgresTests() : LeaseTests(postgres: true);
