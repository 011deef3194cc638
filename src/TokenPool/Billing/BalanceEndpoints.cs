using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.Gateway;

namespace TokenPool.Billing;

/// <summary>What one API key can still spend, and what its account has spent, in micro-dollars.</summary>
internal sealed record KeyBalance(
    long AccountId, string Email, long AvailableMicros, long AccountBalanceMicros, long ReservedMicros, long ChargedMicros,
    long? KeySpendLimitMicros, long KeyChargedMicros, long Requests, DateTime? KeyExpiresAt)
{
    /// <summary>Available plus spent: the "hard limit" balance widgets subtract usage from.</summary>
    public long TotalMicros => AvailableMicros + ChargedMicros;
}

/// <summary>
/// Balance endpoints that existing tools call with the API key, so their balance widgets show TokenPool's
/// balance unchanged:
/// <list type="bullet">
/// <item>one-api / OpenAI legacy: <c>GET /v1/dashboard/billing/subscription</c> (<c>hard_limit_usd</c> is
///   available plus spent) and <c>GET /v1/dashboard/billing/usage</c> (<c>total_usage</c> spent, in cents),
///   so that <c>hard_limit_usd - total_usage / 100</c> is the available balance;</item>
/// <item>CC Switch's "General" usage template: <c>GET {baseUrl}/user/balance</c> reading <c>balance</c>;</item>
/// <item>CC Switch's "New API" usage template: <c>GET {baseUrl}/api/user/self</c> reading
///   <c>data.quota</c> and <c>data.used_quota</c> in new-api units (500,000 per US dollar), with the API key
///   as the access token.</item>
/// </list>
/// Each is served under <c>/v1</c> and at the root, because tools build them from the base URL either way.
/// </summary>
internal static class BalanceEndpoints
{
    /// <summary>new-api's quota units per US dollar.</summary>
    public const long NewApiQuotaPerDollar = 500_000;

    public static IEndpointRouteBuilder MapBalance(this IEndpointRouteBuilder app, GatewayHandler handler)
    {
        foreach (var root in Gateway.Dialects.ApiTable.Roots)
        {
            app.MapGet(root + "/dashboard/billing/subscription", context => WithBalance(context, handler, Subscription)).WithDisplayName("billing-subscription" + root);
            app.MapGet(root + "/dashboard/billing/usage", context => WithBalance(context, handler, Usage)).WithDisplayName("billing-usage" + root);
            app.MapGet(root + "/user/balance", context => WithBalance(context, handler, UserBalance)).WithDisplayName("user-balance" + root);
            app.MapGet(root + "/api/user/self", context => WithBalance(context, handler, NewApiSelf)).WithDisplayName("newapi-self" + root);
        }

        return app;
    }

    /// <summary>
    /// Reads the balance for the key the request carries; null when the key is unknown. Room this gateway has
    /// reserved in leases and no request holds counts as available, not as reserved.
    /// </summary>
    public static async Task<KeyBalance?> ForKeyAsync(TokenPoolDb db, QuotaLedger ledger, long keyId, CancellationToken cancellationToken)
    {
        var (row, unused, keyUnused) = await ledger.ReadWithLeasesAsync(async () =>
        {
            var read = await db.ApiKeys.AsNoTracking().Where(k => k.Id == keyId)
                .Join(db.Accounts.AsNoTracking(), k => k.AccountId, a => a.Id, (k, a) => new { Key = k, Account = a })
                .FirstOrDefaultAsync(cancellationToken);
            return read is null ? (null, 0, 0) : (read, ledger.UnusedMicros(read.Account.Id), ledger.UnusedMicros(read.Account.Id, keyId));
        }, cancellationToken);
        if (row is null)
        {
            return null;
        }

        var requests = await db.UsageDaily.Where(d => d.AccountId == row.Account.Id).SumAsync(d => (long?)d.Requests, cancellationToken) ?? 0;
        var balance = row.Account.BalanceMicros + unused;
        var available = Math.Max(0, balance);
        if (row.Key.SpendLimitMicros is { } limit)
        {
            var keyReserved = row.Key.ReservedMicros - keyUnused;
            available = Math.Min(available, Math.Max(0, limit - row.Key.ChargedMicros - keyReserved));
        }

        return new KeyBalance(row.Account.Id, row.Account.Email, available, balance, row.Account.ReservedMicros - unused,
            row.Account.ChargedMicros, row.Key.SpendLimitMicros, row.Key.ChargedMicros, requests, row.Key.ExpiresAt);
    }

    private static async Task WithBalance(HttpContext context, GatewayHandler handler, Action<Utf8JsonWriter, KeyBalance> write)
    {
        var key = await handler.AuthenticateAsync(context, recheck: true);
        if (key is null)
        {
            return;
        }

        var factory = context.RequestServices.GetRequiredService<IDbContextFactory<TokenPoolDb>>();
        await using var db = await factory.CreateDbContextAsync(context.RequestAborted);
        var balance = await ForKeyAsync(db, context.RequestServices.GetRequiredService<QuotaLedger>(), key.KeyId, context.RequestAborted);
        if (balance is null)
        {
            await GatewayErrors.Refused(Keys.KeyRefusal.Deleted, key, context.RequestServices.GetRequiredService<Hosting.PublicUrls>().ApiKeysPage(context)).WriteAsync(context);
            return;
        }

        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        await using var writer = new Utf8JsonWriter(context.Response.BodyWriter);
        writer.WriteStartObject();
        write(writer, balance);
        writer.WriteEndObject();
    }

    private static void Subscription(Utf8JsonWriter w, KeyBalance b)
    {
        var total = Money.ToDollars(b.TotalMicros);
        w.WriteString("object"u8, "billing_subscription"u8);
        w.WriteBoolean("has_payment_method"u8, true);
        w.WriteNumber("soft_limit_usd"u8, total);
        w.WriteNumber("hard_limit_usd"u8, total);
        w.WriteNumber("system_hard_limit_usd"u8, total);
        w.WriteNumber("access_until"u8, b.KeyExpiresAt is { } expires ? new DateTimeOffset(expires, TimeSpan.Zero).ToUnixTimeSeconds() : 0);
    }

    private static void Usage(Utf8JsonWriter w, KeyBalance b)
    {
        w.WriteString("object"u8, "list"u8);
        w.WriteNumber("total_usage"u8, Money.ToDollars(b.ChargedMicros) * 100);
    }

    private static void UserBalance(Utf8JsonWriter w, KeyBalance b)
    {
        w.WriteBoolean("is_active"u8, true);
        w.WriteNumber("balance"u8, Money.ToDollars(b.AvailableMicros));
        w.WriteNumber("used"u8, Money.ToDollars(b.ChargedMicros));
        w.WriteNumber("reserved"u8, Money.ToDollars(b.ReservedMicros));
        w.WriteString("currency"u8, "USD"u8);
    }

    private static void NewApiSelf(Utf8JsonWriter w, KeyBalance b)
    {
        w.WriteBoolean("success"u8, true);
        w.WriteString("message"u8, ""u8);
        w.WriteStartObject("data"u8);
        w.WriteNumber("id"u8, b.AccountId);
        w.WriteString("username"u8, b.Email);
        w.WriteString("display_name"u8, b.Email);
        w.WriteString("group"u8, "TokenPool"u8);
        w.WriteNumber("quota"u8, ToNewApiQuota(b.AvailableMicros));
        w.WriteNumber("used_quota"u8, ToNewApiQuota(b.ChargedMicros));
        w.WriteNumber("request_count"u8, b.Requests);
        w.WriteEndObject();
    }

    /// <summary>Micro-dollars in new-api quota units (two micro-dollars each), exact.</summary>
    public static decimal ToNewApiQuota(long micros) => (decimal)micros * NewApiQuotaPerDollar / Money.MicrosPerDollar;
}
