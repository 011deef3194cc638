using System.Net;
using System.Text.Json;
using TokenPool.Billing;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Billing;

/// <summary>Balance widgets of existing tools (one-api style dashboards, CC Switch's usage templates) see TokenPool's balance.</summary>
public sealed class BalanceEndpointsTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private async Task<(long AccountId, string Key, long Spent)> SpendSomethingAsync(NewKeySettings? settings = null)
    {
        var (account, key) = await UserWithKeyAsync(_gateway, 10_000_000, settings);
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.5","input":"hi"}""", "usage=100000,20000"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await _gateway.FlushUsageAsync();
        var after = await AccountAsync(_gateway, account.Id);
        return (account.Id, key, after.ChargedMicros);
    }

    private async Task<JsonElement> GetAsync(string key, string path)
    {
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, path + ": " + text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    [Theory]
    [InlineData("v1/")]
    [InlineData("")]
    public async Task OneApiStyleSubscriptionAndUsage_GiveTheBalanceAsHardLimitMinusUsage(string root)
    {
        var (_, key, spent) = await SpendSomethingAsync();
        Assert.Equal(125_000 + 200_000, spent); // 100k input at $1.25/M, 20k output at $10/M

        var subscription = await GetAsync(key, root + "dashboard/billing/subscription");
        var usage = await GetAsync(key, root + "dashboard/billing/usage?start_date=2026-01-01&end_date=2026-12-31");

        Assert.Equal("billing_subscription", subscription.GetProperty("object").GetString());
        Assert.True(subscription.GetProperty("has_payment_method").GetBoolean());
        Assert.Equal(10m, subscription.GetProperty("hard_limit_usd").GetDecimal());
        Assert.Equal("list", usage.GetProperty("object").GetString());
        Assert.Equal(Money.ToDollars(spent) * 100, usage.GetProperty("total_usage").GetDecimal());
        var balance = subscription.GetProperty("hard_limit_usd").GetDecimal() - (usage.GetProperty("total_usage").GetDecimal() / 100);
        Assert.Equal(Money.ToDollars(10_000_000 - spent), balance);
    }

    [Theory]
    [InlineData("v1/")]
    [InlineData("")]
    public async Task CcSwitchGeneralTemplate_UserBalance_ReadsTheAvailableBalance(string root)
    {
        var (_, key, spent) = await SpendSomethingAsync();

        // CC Switch's "General" template: GET {{baseUrl}}/user/balance, Authorization: Bearer {{apiKey}}, reads is_active and balance.
        using var client = _gateway.ClientWithKey(key);
        client.DefaultRequestHeaders.UserAgent.ParseAdd("cc-switch/1.0");
        using var response = await client.GetAsync(root + "user/balance");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.GetProperty("is_active").GetBoolean());
        Assert.Equal(Money.ToDollars(10_000_000 - spent), body.GetProperty("balance").GetDecimal());
    }

    [Theory]
    [InlineData("v1/")]
    [InlineData("")]
    public async Task CcSwitchNewApiTemplate_UserSelf_ReadsQuotaInNewApiUnits(string root)
    {
        var (accountId, key, spent) = await SpendSomethingAsync();

        // CC Switch's "New API" template: GET {{baseUrl}}/api/user/self with Bearer {{accessToken}} and New-Api-User: {{userId}};
        // remaining = data.quota / 500000, used = data.used_quota / 500000.
        using var client = new HttpClient { BaseAddress = _gateway.Address };
        using var request = new HttpRequestMessage(HttpMethod.Get, root + "api/user/self");
        request.Headers.Authorization = Bearer(key);
        request.Headers.TryAddWithoutValidation("New-Api-User", accountId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation("User-Agent", "cc-switch/1.0");
        using var response = await client.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.GetProperty("success").GetBoolean());
        var data = body.GetProperty("data");
        Assert.Equal(Money.ToDollars(10_000_000 - spent), data.GetProperty("quota").GetDecimal() / 500_000);
        Assert.Equal(Money.ToDollars(spent), data.GetProperty("used_quota").GetDecimal() / 500_000);
        Assert.Equal(1, data.GetProperty("request_count").GetInt64());
        Assert.False(string.IsNullOrEmpty(data.GetProperty("group").GetString()));
    }

    [Fact]
    public async Task KeyWithSpendLimit_ShowsWhatTheKeyCanStillSpend()
    {
        var (_, key, spent) = await SpendSomethingAsync(new NewKeySettings("capped", SpendLimitMicros: 2_000_000));

        var body = await GetAsync(key, "v1/user/balance");

        Assert.Equal(Money.ToDollars(2_000_000 - spent), body.GetProperty("balance").GetDecimal());
    }

    [Theory]
    [InlineData("v1/dashboard/billing/subscription")]
    [InlineData("v1/dashboard/billing/usage")]
    [InlineData("user/balance")]
    [InlineData("api/user/self")]
    public async Task BalanceEndpoints_WithoutAValidKey_Answer401InTheOpenAiEnvelope(string path)
    {
        using var none = await _gateway.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("invalid_api_key", Error(await none.Content.ReadAsStringAsync()).GetProperty("code").GetString());

        using var wrong = _gateway.ClientWithKey("sk-proj-not-a-tokenpool-key-at-all-1234567890");
        using var response = await wrong.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}

/// <summary>The CC Switch one-click import carries a usage query that TokenPool answers.</summary>
public sealed class CcSwitchImportBalanceTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task CcSwitchImportLink_EnablesAUsageQuery_ThatReadsTheBalance()
    {
        var (_, key) = await UserWithKeyAsync(_gateway, 7_500_000);
        var setup = new TokenPool.Docs.ClientSetup(_gateway.Address.ToString().TrimEnd('/'), key, "gpt-5.5", "gpt-5.4-nano");

        var link = new Uri(setup.CcSwitchLink("codex", "https://tokenpool.dev"));
        var query = link.Query.TrimStart('?').Split('&').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => Uri.UnescapeDataString(p[1]));
        Assert.Equal("true", query["usageEnabled"]);
        var script = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(query["usageScript"]));

        // What CC Switch does with the script: fill in the provider's endpoint and key, send the request, read "balance".
        script = script.Replace("{{baseUrl}}", query["endpoint"], StringComparison.Ordinal).Replace("{{apiKey}}", query["apiKey"], StringComparison.Ordinal);
        var url = System.Text.RegularExpressions.Regex.Match(script, "url: \"([^\"]+)\"").Groups[1].Value;
        var authorization = System.Text.RegularExpressions.Regex.Match(script, "\"Authorization\": \"([^\"]+)\"").Groups[1].Value;
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        using var response = await client.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("response.balance", script, StringComparison.Ordinal);
        Assert.Equal(7.5m, body.GetProperty("balance").GetDecimal());
    }
}
