using TokenPool.Billing;

namespace TokenPool.Tests.Billing;

public sealed class PricingTests
{
    [Fact]
    public void Cost_PricesUncachedCachedAndOutputTokens_RoundingUpToAWholeMicroDollar()
    {
        // 1,000 input (400 cached) at $1.25 / $0.125 per million, 100 output at $10 per million:
        // 600 * 1.25 + 400 * 0.125 + 100 * 10 = 750 + 50 + 1000 = 1800 micro-dollars.
        Assert.Equal(1_800, Pricing.Cost(new TokenUsage(1_000, 400, 100, 20), 1_250_000, 125_000, 10_000_000));
        Assert.Equal(2, Pricing.Cost(new TokenUsage(1, 0, 0, 0), 1_250_000, 125_000, 10_000_000)); // 1.25 rounds up
        Assert.Equal(1, Pricing.Cost(new TokenUsage(8, 8, 0, 0), 1_250_000, 125_000, 10_000_000)); // exactly 1
        Assert.Equal(0, Pricing.Cost(new TokenUsage(0, 0, 0, 0), 1_250_000, 125_000, 10_000_000));
    }

    [Theory]
    [InlineData(-1, 0, 0, 0)]
    [InlineData(0, 0, -1, 0)]
    [InlineData(10, 11, 5, 0)]
    [InlineData(10, 0, 5, 6)]
    [InlineData(TokenUsage.AbsurdTokens + 1, 0, 5, 0)]
    [InlineData(10, 0, TokenUsage.AbsurdTokens + 1, 0)]
    public void ImpossibleUsage_IsNotPlausible(long input, long cached, long output, long reasoning) =>
        Assert.False(new TokenUsage(input, cached, output, reasoning).IsPlausible);

    [Fact]
    public void Cost_OfNegativeCounts_IsNeverNegative() =>
        Assert.Equal(0, Pricing.Cost(new TokenUsage(-5_000, -10, -3_000, 0), 1_250_000, 125_000, 10_000_000));

    [Theory]
    [InlineData(500, 1_000, 300, 0, 500)]
    [InlineData(2_000, 1_000, 300, 0, 1_300)]
    [InlineData(2_000, 1_000, 300, 500, 1_800)]
    [InlineData(2_000, 0, 300, 0, 300)]
    [InlineData(2_000, -100, 300, 0, 200)]
    [InlineData(2_000, -500, 300, 0, 0)]
    public void ChargeWithinBound_NeverTakesTheBalanceBelowTheOverdraftBound(long cost, long balance, long reserved, long overdraft, long expected)
    {
        var charge = QuotaLedger.ChargeWithinBound(cost, balance, reserved, overdraft);
        Assert.Equal(expected, charge);
        Assert.True(balance + reserved - charge >= Math.Min(-overdraft, balance + reserved));
    }

    [Theory]
    [InlineData(1_000_000, "500000")]
    [InlineData(3, "1.5")]
    [InlineData(0, "0")]
    public void NewApiQuota_IsHalfAMicroDollarPerUnit(long micros, string expected) =>
        Assert.Equal(decimal.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), BalanceEndpoints.ToNewApiQuota(micros));

    [Fact]
    public void UsageCursor_RoundTrips_AndForgedCursorsAreRefused()
    {
        var record = new UsageRecord { Id = 42, RequestId = "r", Model = "m", Endpoint = "responses", Outcome = "completed", CreatedAt = new DateTime(2026, 11, 22, 10, 0, 0, DateTimeKind.Utc) };
        var (at, id) = UsageQueries.ParseCursor(UsageQueries.MakeCursor(record));
        Assert.Equal(record.CreatedAt, at);
        Assert.Equal(42, id);
        Assert.Throws<ArgumentException>(() => UsageQueries.ParseCursor("1.2.3"));
        Assert.Throws<ArgumentException>(() => UsageQueries.ParseCursor("-5.1"));
        Assert.Throws<ArgumentException>(() => UsageQueries.ParseCursor("99999999999999999999.1"));
    }
}
