using System.Globalization;
using TokenPool.Billing;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Billing;

/// <summary>The data behind the console usage page: summary, daily rollups, paged and filtered requests, CSV export.</summary>
public sealed class UsageQueriesTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private long _accountId;
    private long _keyA;
    private long _keyB;
    private DateTime _now;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        var (account, key) = await UserWithKeyAsync(_gateway, 100_000_000);
        _accountId = account.Id;
        _keyA = (await _gateway.Get<ApiKeyCache>().FindAsync(key, CancellationToken.None))!.KeyId;
        _keyB = (await _gateway.Get<ApiKeyService>().CreateAsync(account.Id, new NewKeySettings("second"), null, CancellationToken.None)).Row.Id;
        _now = DateTime.UtcNow;
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    /// <summary>Reserves and settles one request through the real ledger and writer.</summary>
    private async Task SettleAsync(string id, DateTime at, long keyId, string model, int status, long cost, long input = 100, long output = 10)
    {
        var identity = new KeyIdentity(keyId, "", _accountId, "sk-tp-…", ApiKeyStatus.Active, null, null, false, null, RequestLimits.None, RequestLimits.None);
        Assert.Equal(ReserveOutcome.Reserved, await _gateway.Get<QuotaLedger>().ReserveAsync(identity, cost + 10, at, at.AddHours(2), CancellationToken.None));
        await _gateway.Get<UsageWriter>().WriteNowAsync(
            [new Settlement(new UsageRecord
            {
                RequestId = id, CreatedAt = at, AccountId = _accountId, KeyId = keyId, Model = model, Endpoint = "responses",
                Status = status, Outcome = status == 200 ? "completed" : "upstream_error", InputTokens = input, OutputTokens = output,
                CostMicros = status == 200 ? cost : 0,
            }, cost + 10, HasReservation: true)],
            CancellationToken.None);
    }

    private async Task SeedAsync()
    {
        for (var i = 0; i < 25; i++)
        {
            await SettleAsync($"req_{i:D3}", _now.AddMinutes(-i), i % 2 == 0 ? _keyA : _keyB, i % 3 == 0 ? "gpt-5.4-mini" : "gpt-5.5", i % 5 == 4 ? 500 : 200, 1_000 + i);
        }

        await SettleAsync("req_old", _now.AddDays(-40), _keyA, "gpt-5.5", 200, 7_000);
    }

    [Fact]
    public async Task Summary_GivesBalanceAndSpendTodayAndThisMonth()
    {
        await SettleAsync("req_today", _now, _keyA, "gpt-5.5", 200, 2_000);
        await SettleAsync("req_lastmonth", new DateTime(_now.Year, _now.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddDays(-1), _keyA, "gpt-5.5", 200, 9_000);
        var earlierThisMonth = _now.Day > 1 ? _now.AddDays(-1) : (DateTime?)null;
        if (earlierThisMonth is { } earlier)
        {
            await SettleAsync("req_earlier", earlier, _keyB, "gpt-5.5", 200, 3_000);
        }

        var summary = await _gateway.Get<UsageQueries>().SummaryAsync(_accountId, CancellationToken.None);

        Assert.Equal(100_000_000 - 2_000 - 9_000 - (earlierThisMonth is null ? 0 : 3_000), summary.BalanceMicros);
        Assert.Equal(0, summary.ReservedMicros);
        Assert.Equal(2_000, summary.SpentTodayMicros);
        Assert.Equal(earlierThisMonth is null ? 2_000 : 5_000, summary.SpentThisMonthMicros);
        Assert.Equal(1, summary.RequestsToday);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task Daily_ByModelAndByKey_SumsTheRollup()
    {
        await SeedAsync();
        var queries = _gateway.Get<UsageQueries>();
        var from = DateOnly.FromDateTime(_now.AddDays(-60));
        var to = DateOnly.FromDateTime(_now);

        var byModel = await queries.DailyAsync(_accountId, from, to, UsageGrouping.Model, CancellationToken.None);
        var byKey = await queries.DailyAsync(_accountId, from, to, UsageGrouping.Key, CancellationToken.None);

        var records = await RecordsAsync(_gateway, _accountId);
        Assert.Equal(records.Sum(r => r.ChargedMicros), byModel.Sum(d => d.ChargedMicros));
        Assert.Equal(records.Sum(r => r.ChargedMicros), byKey.Sum(d => d.ChargedMicros));
        Assert.Equal(records.Count, byModel.Sum(d => d.Requests));
        Assert.Equal(records.Sum(r => r.InputTokens), byKey.Sum(d => d.InputTokens));
        Assert.Equal(records.Where(r => r.Model == "gpt-5.4-mini").Sum(r => r.ChargedMicros), byModel.Where(d => d.Model == "gpt-5.4-mini").Sum(d => d.ChargedMicros));
        Assert.Equal(records.Where(r => r.KeyId == _keyB).Sum(r => r.OutputTokens), byKey.Where(d => d.KeyId == _keyB).Sum(d => d.OutputTokens));
        Assert.Equal(byModel.OrderBy(d => d.Day).Select(d => d.Day), byModel.Select(d => d.Day));
        Assert.Contains(byModel, d => d.Day == DateOnly.FromDateTime(_now.AddDays(-40)));
    }

    [Fact]
    public async Task Recent_PagesNewestFirst_WithoutGapsOrRepeats()
    {
        await SeedAsync();
        var queries = _gateway.Get<UsageQueries>();
        var filter = new UsageFilter(_accountId, _now.AddDays(-30), _now.AddMinutes(1));
        var seen = new List<UsageRecord>();
        string? cursor = null;
        for (var page = 0; page < 10; page++)
        {
            var result = await queries.RecentAsync(filter, cursor, 10, CancellationToken.None);
            seen.AddRange(result.Records);
            cursor = result.NextCursor;
            if (cursor is null)
            {
                break;
            }
        }

        Assert.Null(cursor);
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"req_{i:D3}"), seen.Select(r => r.RequestId));
    }

    [Fact]
    public async Task Recent_FiltersByKeyModelStatusAndDateRange()
    {
        await SeedAsync();
        var queries = _gateway.Get<UsageQueries>();
        var all = new UsageFilter(_accountId, _now.AddDays(-30), _now.AddMinutes(1));

        var byKey = await queries.RecentAsync(all with { KeyId = _keyB }, null, 200, CancellationToken.None);
        var byModel = await queries.RecentAsync(all with { Model = "gpt-5.4-mini" }, null, 200, CancellationToken.None);
        var failed = await queries.RecentAsync(all with { Status = StatusFilter.Failed }, null, 200, CancellationToken.None);
        var succeeded = await queries.RecentAsync(all with { Status = StatusFilter.Succeeded }, null, 200, CancellationToken.None);
        var window = await queries.RecentAsync(all with { From = _now.AddMinutes(-9.5), To = _now.AddMinutes(-4.5) }, null, 200, CancellationToken.None);
        var old = await queries.RecentAsync(new UsageFilter(_accountId, _now.AddDays(-41), _now.AddDays(-39)), null, 200, CancellationToken.None);

        Assert.Equal(12, byKey.Records.Count);
        Assert.All(byKey.Records, r => Assert.Equal(_keyB, r.KeyId));
        Assert.Equal(9, byModel.Records.Count);
        Assert.All(byModel.Records, r => Assert.Equal("gpt-5.4-mini", r.Model));
        Assert.Equal(5, failed.Records.Count);
        Assert.All(failed.Records, r => Assert.Equal(500, r.Status));
        Assert.Equal(20, succeeded.Records.Count);
        Assert.Equal(["req_005", "req_006", "req_007", "req_008", "req_009"], window.Records.Select(r => r.RequestId));
        Assert.Equal("req_old", Assert.Single(old.Records).RequestId);
    }

    [Fact]
    public async Task Recent_RefusesUnboundedRangesAndForgedCursors()
    {
        var queries = _gateway.Get<UsageQueries>();
        await Assert.ThrowsAsync<ArgumentException>(() => queries.RecentAsync(new UsageFilter(_accountId, _now.AddDays(-400), _now), null, 10, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => queries.RecentAsync(new UsageFilter(_accountId, _now, _now.AddDays(-1)), null, 10, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentException>(() => queries.RecentAsync(new UsageFilter(_accountId, _now.AddDays(-1), _now), "not-a-cursor", 10, CancellationToken.None));
    }

    [Fact]
    public async Task ExportCsv_WritesEveryFilteredRow_WithAHeader_AndDefusesFormulas()
    {
        await SeedAsync();
        await SettleAsync("req_formula", _now.AddSeconds(-5), _keyA, "=HYPERLINK(\"x\")", 200, 10);
        var filter = new UsageFilter(_accountId, _now.AddDays(-30), _now.AddMinutes(1));
        await using var text = new StringWriter(CultureInfo.InvariantCulture);

        var count = await _gateway.Get<UsageQueries>().ExportCsvAsync(filter, text, CancellationToken.None);

        var lines = text.ToString().TrimEnd().Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        Assert.Equal(26, count);
        Assert.Equal(UsageQueries.CsvHeader, lines[0]);
        Assert.Equal(27, lines.Count);
        Assert.Equal("req_000", lines[1].Split(',')[1]);
        Assert.Equal("req_formula", lines[2].Split(',')[1]);
        Assert.Contains(",\"'=HYPERLINK(\"\"x\"\")\",", lines[2], StringComparison.Ordinal);
        var last = lines[^1].Split(',');
        Assert.Equal("req_024", last[1]);
        Assert.Equal("500", last[6]);
        Assert.Equal("0", last[13]);
        Assert.Equal(Money.Plain(1_023), lines[^2].Split(',')[13]);
    }
}
