using System.Net;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Upstreams;

/// <summary>Issue 5, limits per key and account: exact under 100 parallel requests, with OpenAI-style 429s.</summary>
public sealed class LimitsTests : IAsyncLifetime
{
    private const int Parallel = 100;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task RequestsPerMinute_AdmitsExactlyTheLimit_AndRefusesTheRestWith429AndHeaders()
    {
        using var client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync(100m, new NewKeySettings("rpm", Limits: new RequestLimits(10, null, null))));

        var responses = await BurstAsync(client, () => Api.Chat());

        Assert.Equal(10, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.All(responses.Where(r => r.StatusCode == HttpStatusCode.OK), r => Assert.Equal("10", Header(r, "x-ratelimit-limit-requests")));
        var refused = responses.Where(r => r.StatusCode != HttpStatusCode.OK).ToList();
        Assert.Equal(Parallel - 10, refused.Count);
        foreach (var response in refused)
        {
            await Api.AssertErrorAsync(response, HttpStatusCode.TooManyRequests, "rate_limit_exceeded", "10 requests per minute", "try again in");
            Assert.True(int.Parse(Header(response, "Retry-After")!, System.Globalization.CultureInfo.InvariantCulture) is >= 1 and <= 60);
            Assert.Equal("10", Header(response, "x-ratelimit-limit-requests"));
            Assert.Equal("0", Header(response, "x-ratelimit-remaining-requests"));
            Assert.NotNull(Header(response, "x-ratelimit-reset-requests"));
        }

        Assert.Equal(10, _gateway.Upstreams[0].RequestCount);
        Dispose(responses);
    }

    [Fact]
    public async Task ConcurrentRequests_NeverExceedTheLimit()
    {
        using var client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync(100m, new NewKeySettings("conc", Limits: new RequestLimits(null, null, 5))));
        _gateway.Upstreams[0].ForcedFaults = new SimulatorFaults { DelayHeadersMs = 3000 };

        var responses = await BurstAsync(client, () => Api.Chat());

        Assert.Equal(5, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(5, _gateway.Upstreams[0].MaxConcurrent);
        await Api.AssertErrorAsync(responses.First(r => r.StatusCode != HttpStatusCode.OK), HttpStatusCode.TooManyRequests, "rate_limit_exceeded", "5 concurrent requests");
        Dispose(responses);

        _gateway.Upstreams[0].ForcedFaults = null;
        using var after = await client.PostAsync("v1/chat/completions", Api.Chat());
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task TokensPerMinute_AdmitsExactlyWhatFits()
    {
        var bytes = (await Api.Chat().ReadAsByteArrayAsync()).Length;
        var estimate = (bytes + 2) / 3;
        using var client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync(100m, new NewKeySettings("tpm", Limits: new RequestLimits(null, (estimate * 7) + (estimate / 2), null))));
        _gateway.Upstreams[0].ForcedFaults = new SimulatorFaults { DelayHeadersMs = 3000 };

        var responses = await BurstAsync(client, () => Api.Chat());

        Assert.Equal(7, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        var refused = responses.First(r => r.StatusCode != HttpStatusCode.OK);
        await Api.AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, "rate_limit_exceeded", "tokens per minute");
        Assert.NotNull(Header(refused, "x-ratelimit-limit-tokens"));
        Assert.NotNull(Header(refused, "Retry-After"));
        Dispose(responses);
    }

    [Fact]
    public async Task AccountLimit_HoldsAcrossAllTheAccountsKeys()
    {
        var account = await _gateway.CreateUserAsync(100m);
        await using (var db = await _gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync())
        {
            await db.Accounts.Where(a => a.Id == account.Id).ExecuteUpdateAsync(s => s.SetProperty(a => a.RequestsPerMinute, 12));
        }

        var keys = _gateway.Get<ApiKeyService>();
        using var one = _gateway.ClientWithKey((await keys.CreateAsync(account.Id, new NewKeySettings("one"), null, CancellationToken.None)).Key);
        using var two = _gateway.ClientWithKey((await keys.CreateAsync(account.Id, new NewKeySettings("two"), null, CancellationToken.None)).Key);

        var responses = await BurstAsync(null, () => Api.Responses(), one, two);

        Assert.Equal(12, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        await Api.AssertErrorAsync(responses.First(r => r.StatusCode != HttpStatusCode.OK), HttpStatusCode.TooManyRequests, "rate_limit_exceeded", "for this account");
        Dispose(responses);
    }

    private static async Task<List<HttpResponseMessage>> BurstAsync(HttpClient? client, Func<HttpContent> body, params HttpClient[] clients)
    {
        clients = client is null ? clients : [client];
        var path = body() is var probe && (await probe.ReadAsStringAsync()).Contains("\"messages\"", StringComparison.Ordinal) ? "v1/chat/completions" : "v1/responses";
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, Parallel).Select(async i =>
        {
            await start.WaitAsync();
            return await clients[i % clients.Length].PostAsync(path, body());
        }).ToList();
        start.Release(Parallel);
        return [.. await Task.WhenAll(tasks)];
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.First() : null;

    private static void Dispose(List<HttpResponseMessage> responses) => responses.ForEach(r => r.Dispose());
}
