using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;

namespace TokenPool.IntegrationTests.Billing;

/// <summary>Small helpers the billing tests share: sending with simulator faults, reading records and balances.</summary>
internal static class BillingKit
{
    public static HttpRequestMessage Post(string path, string body, string? sim = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (sim is not null)
        {
            request.Headers.TryAddWithoutValidation("x-sim", sim);
        }

        return request;
    }

    /// <summary>What TokenPool reserves for a request body that sets max_output_tokens.</summary>
    public static long ReserveFor(TestGateway gateway, string body, string model, long maxOutput)
    {
        var price = gateway.Get<PriceCatalog>().Find(model)!;
        var input = (Encoding.UTF8.GetByteCount(body) + 2) / 3;
        return Pricing.Cost(new TokenUsage(input, 0, maxOutput, 0), price);
    }

    public static long InputEstimate(string body) => (Encoding.UTF8.GetByteCount(body) + 2) / 3;

    public static async Task<UsageRecord?> RecordAsync(TestGateway gateway, string requestId)
    {
        await using var db = await gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        return await db.UsageRecords.AsNoTracking().FirstOrDefaultAsync(r => r.RequestId == requestId);
    }

    /// <summary>Waits (bounded) until the request's usage record is written.</summary>
    public static async Task<UsageRecord> WaitForRecordAsync(TestGateway gateway, string requestId)
    {
        for (var i = 0; i < 200; i++)
        {
            await gateway.FlushUsageAsync();
            if (await RecordAsync(gateway, requestId) is { } record)
            {
                return record;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"No usage record for {requestId} after 10 seconds.");
    }

    public static async Task<List<UsageRecord>> RecordsAsync(TestGateway gateway, long accountId)
    {
        await using var db = await gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        return await db.UsageRecords.AsNoTracking().Where(r => r.AccountId == accountId).ToListAsync();
    }

    public static async Task<Account> AccountAsync(TestGateway gateway, long accountId)
    {
        await using var db = await gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        return await db.Accounts.AsNoTracking().FirstAsync(a => a.Id == accountId);
    }

    public static async Task<ApiKey> KeyRowAsync(TestGateway gateway, long accountId)
    {
        await using var db = await gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        return await db.ApiKeys.AsNoTracking().FirstAsync(k => k.AccountId == accountId);
    }

    public static async Task<(Account Account, string Key)> UserWithKeyAsync(TestGateway gateway, long creditMicros, NewKeySettings? settings = null)
    {
        var account = await gateway.CreateUserAsync(Money.ToDollars(creditMicros));
        var key = (await gateway.Get<ApiKeyService>().CreateAsync(account.Id, settings ?? new NewKeySettings("test"), null, CancellationToken.None)).Key;
        return (account, key);
    }

    public static string RequestId(HttpResponseMessage response) => response.Headers.GetValues("x-tokenpool-request-id").Single();

    public static JsonElement Error(string body) => JsonDocument.Parse(body).RootElement.GetProperty("error").Clone();

    public static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault()
        : response.Content.Headers.TryGetValues(name, out var contentValues) ? contentValues.FirstOrDefault() : null;

    public static AuthenticationHeaderValue Bearer(string key) => new("Bearer", key);
}
