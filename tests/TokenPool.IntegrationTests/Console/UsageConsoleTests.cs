using System.Globalization;
using Microsoft.Playwright;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using static Microsoft.Playwright.Assertions;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>
/// The usage page in a real Chromium, over usage produced by real requests through the gateway: the numbers
/// on the page are the ones in the usage records and the ledger, filters and the CSV narrow to the same rows,
/// and nobody sees another account's requests.
/// </summary>
public sealed class UsageConsoleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(options => options.Settings["Accounts:StartingCreditUsd"] = "5");
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task UsagePage_ShowsBalanceSpendChartsAndEveryRequest_FromRealGatewayTraffic()
    {
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignUpAsync(page, "usage-owner@example.com");
        var (laptopId, laptop) = await ConsoleBrowser.CreateKeyAsync(page, "laptop");
        var (ciId, ci) = await ConsoleBrowser.CreateKeyAsync(page, "ci");
        var sent = new List<string>
        {
            await SendAsync(laptop, "gpt-5.5", stream: false, "usage=3000,400,1000,50"),
            await SendAsync(laptop, "gpt-5.4-mini", stream: true, "usage=1200,300"),
            await SendAsync(ci, "gpt-5.5", stream: false, "status=500"),
            await SendAsync(ci, "gpt-5.5", stream: true, "deltas=12 drop_after=9 delay_events_ms=10 text=\"The keeper climbed the stairs every night, counting each step.\""),
            await SendAsync(ci, "gpt-5.4-mini", stream: false, null),
        };
        var records = new List<UsageRecord>();
        foreach (var id in sent)
        {
            records.Add(await WaitForRecordAsync(_gateway, id));
        }

        var accountId = records[0].AccountId;
        var account = await AccountAsync(_gateway, accountId);
        Assert.Contains(records, r => r.IsEstimated);
        Assert.Contains(records, r => r.Status == 500);
        Assert.Contains(records, r => r.CachedInputTokens > 0 && r.ReasoningTokens > 0);

        await page.GotoAsync("/console/usage");
        await Expect(page.Locator("h1")).ToHaveTextAsync("Usage");
        await Expect(page.GetByTestId("summary-balance")).ToHaveTextAsync(Money.Format(account.BalanceMicros));
        await Expect(page.GetByTestId("summary-reserved")).ToHaveTextAsync(Money.Format(account.ReservedMicros));
        var today = DateTime.UtcNow.Date;
        var spentToday = records.Where(r => r.CreatedAt.Date == today).Sum(r => r.ChargedMicros);
        await Expect(page.GetByTestId("summary-today")).ToHaveTextAsync(Money.Format(spentToday));
        await Expect(page.GetByTestId("summary-month")).ToHaveTextAsync(Money.Format(records.Sum(r => r.ChargedMicros)));
        await Expect(page.GetByTestId("summary-today-requests")).ToHaveTextAsync(records.Count(r => r.CreatedAt.Date == today).ToString(CultureInfo.InvariantCulture));
        Assert.Equal(5_000_000 - records.Sum(r => r.ChargedMicros), account.BalanceMicros);

        // Every request, newest first, with its numbers; the estimated one is marked, the others are not.
        var expectedOrder = records.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id).Select(r => r.RequestId).ToList();
        Assert.Equal(expectedOrder, await RowIdsAsync(page));
        foreach (var r in records)
        {
            var row = page.Locator($"tr[data-request-id='{r.RequestId}']");
            await Expect(row.GetByTestId("key")).ToHaveTextAsync(r.KeyId == laptopId ? "laptop" : "ci");
            await Expect(row.GetByTestId("model")).ToHaveTextAsync(r.Model);
            await Expect(row.GetByTestId("input")).ToHaveTextAsync(r.InputTokens.ToString("N0", CultureInfo.InvariantCulture));
            await Expect(row.GetByTestId("cached")).ToHaveTextAsync(r.CachedInputTokens.ToString("N0", CultureInfo.InvariantCulture));
            await Expect(row.GetByTestId("output")).ToHaveTextAsync(r.OutputTokens.ToString("N0", CultureInfo.InvariantCulture));
            await Expect(row.GetByTestId("reasoning")).ToHaveTextAsync(r.ReasoningTokens.ToString("N0", CultureInfo.InvariantCulture));
            await Expect(row.GetByTestId("cost")).ToHaveTextAsync(Money.Format(r.ChargedMicros));
            await Expect(row.GetByTestId("latency")).ToHaveTextAsync(r.LatencyMs.ToString("N0", CultureInfo.InvariantCulture) + " ms");
            await Expect(row.GetByTestId("first-token")).ToHaveTextAsync(r.FirstTokenMs is { } ttft ? ttft.ToString("N0", CultureInfo.InvariantCulture) + " ms" : "—");
            await Expect(row.GetByTestId("status")).ToContainTextAsync(r.Status.ToString(CultureInfo.InvariantCulture));
            await Expect(row.GetByTestId("estimated")).ToHaveCountAsync(r.IsEstimated ? 1 : 0);
            await Expect(row).ToHaveAttributeAsync("data-estimated", r.IsEstimated ? "true" : "false");
        }

        await Expect(page.Locator("tr[data-estimated=true] [data-testid=estimated]")).ToHaveTextAsync("estimated");

        // Charts: the totals and each model's (then each key's) share come from the same records.
        await Expect(page.GetByTestId("spend-total")).ToHaveTextAsync(Money.Format(records.Sum(r => r.ChargedMicros)));
        await Expect(page.GetByTestId("token-total")).ToHaveTextAsync(records.Sum(r => r.InputTokens + r.OutputTokens).ToString("N0", CultureInfo.InvariantCulture));
        foreach (var model in records.Where(r => r.ChargedMicros > 0).Select(r => r.Model).Distinct())
        {
            await Expect(page.GetByTestId("spend-chart").Locator($"li[data-series='{model}'] [data-testid=series-total]"))
                .ToHaveTextAsync(Money.Format(records.Where(r => r.Model == model).Sum(r => r.ChargedMicros)));
        }

        await Expect(page.GetByTestId("spend-chart").Locator("svg.chart rect")).Not.ToHaveCountAsync(0);
        await ConsoleBrowser.ScreenshotAsync(page, "usage");
        await page.GetByTestId("by-key").ClickAsync();
        await Expect(page.GetByTestId("by-key")).ToHaveClassAsync("active");
        foreach (var (keyId, name) in new[] { (laptopId, "laptop"), (ciId, "ci") })
        {
            await Expect(page.GetByTestId("token-chart").Locator($"li[data-series='{name}'] [data-testid=series-total]"))
                .ToHaveTextAsync(records.Where(r => r.KeyId == keyId).Sum(r => r.InputTokens + r.OutputTokens).ToString("N0", CultureInfo.InvariantCulture));
        }

        await ConsoleBrowser.ScreenshotAsync(page, "usage-by-key");

        // Filters narrow the table to exactly the matching records.
        await page.SelectOptionAsync("#key", ciId.ToString(CultureInfo.InvariantCulture));
        await page.GetByTestId("apply").ClickAsync();
        Assert.Equal(Ids(records.Where(r => r.KeyId == ciId)), await RowIdsAsync(page));
        await page.SelectOptionAsync("#model", "gpt-5.4-mini");
        await page.GetByTestId("apply").ClickAsync();
        Assert.Equal(Ids(records.Where(r => r.KeyId == ciId && r.Model == "gpt-5.4-mini")), await RowIdsAsync(page));
        await page.SelectOptionAsync("#key", "");
        await page.SelectOptionAsync("#model", "");
        await page.SelectOptionAsync("#status", "failed");
        await page.GetByTestId("apply").ClickAsync();
        Assert.Equal(Ids(records.Where(r => r.Status is < 200 or >= 300)), await RowIdsAsync(page));
        await ConsoleBrowser.ScreenshotAsync(page, "usage-filtered");
        await page.SelectOptionAsync("#status", "any");
        var yesterday = DateOnly.FromDateTime(DateTime.UtcNow).AddDays(-1).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        await page.FillAsync("#from", yesterday);
        await page.FillAsync("#to", yesterday);
        await page.GetByTestId("apply").ClickAsync();
        await Expect(page.GetByTestId("no-requests")).ToBeVisibleAsync();
        await Expect(page.Locator("tr[data-request-id]")).ToHaveCountAsync(0);

        // The CSV holds exactly the filtered rows; the key's own page links to its usage.
        await page.GotoAsync($"/console/api-keys/{laptopId}");
        await page.GetByTestId("key-usage").ClickAsync();
        await Expect(page.Locator("#key")).ToHaveValueAsync(laptopId.ToString(CultureInfo.InvariantCulture));
        Assert.Equal(Ids(records.Where(r => r.KeyId == laptopId)), await RowIdsAsync(page));
        var csv = await DownloadCsvAsync(page);
        Assert.Equal(UsageQueries.CsvHeader, csv[0]);
        Assert.Equal(Ids(records.Where(r => r.KeyId == laptopId)), csv.Skip(1).Select(line => line.Split(',')[1]).ToList());
        Assert.All(csv.Skip(1), line => Assert.Equal(laptopId.ToString(CultureInfo.InvariantCulture), line.Split(',')[2]));
        await page.GotoAsync("/console/usage?status=failed");
        Assert.Equal(Ids(records.Where(r => r.Status is < 200 or >= 300)), (await DownloadCsvAsync(page)).Skip(1).Select(line => line.Split(',')[1]).ToList());

        // Keyset paging: every request once, newest first, across pages.
        await page.GotoAsync("/console/usage?size=2");
        var paged = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            var ids = await RowIdsAsync(page);
            Assert.InRange(ids.Count, 1, 2);
            paged.AddRange(ids);
            if (await page.GetByTestId("older").CountAsync() == 0)
            {
                break;
            }

            await page.GetByTestId("older").ClickAsync();
            await Expect(page.GetByTestId("newest")).ToBeVisibleAsync();
        }

        Assert.Equal(expectedOrder, paged);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task OtherAccountsUsage_IsNeverShown_EvenThroughTheQueryString()
    {
        var bob = await _gateway.CreateUserAsync(email: "bob@example.com");
        var bobKey = await _gateway.Get<ApiKeyService>().CreateAsync(bob.Id, new NewKeySettings("bob's laptop"), null, CancellationToken.None);
        var bobRequest = await SendAsync(bobKey.Key, "gpt-5.5", stream: false, null);
        await WaitForRecordAsync(_gateway, bobRequest);

        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignUpAsync(page, "alice@example.com");
        var (aliceKeyId, aliceKey) = await ConsoleBrowser.CreateKeyAsync(page, "alice's laptop");
        var aliceRequest = await SendAsync(aliceKey, "gpt-5.5", stream: false, null);
        var aliceRecord = await WaitForRecordAsync(_gateway, aliceRequest);

        await page.GotoAsync("/console/usage");
        Assert.Equal([aliceRequest], await RowIdsAsync(page));
        await Expect(page.Locator("#key option")).ToHaveCountAsync(2);
        await Expect(page.Locator("main")).Not.ToContainTextAsync("bob's laptop");
        await Expect(page.GetByTestId("summary-balance")).ToHaveTextAsync(Money.Format((await AccountAsync(_gateway, aliceRecord.AccountId)).BalanceMicros));

        // Bob's key id in the filter: a clear message and no rows, not an error page.
        var visit = await page.GotoAsync($"/console/usage?key={bobKey.Row.Id}");
        Assert.Equal(200, visit!.Status);
        await Expect(page.GetByTestId("error")).ToContainTextAsync("no key with id");
        await Expect(page.Locator("tr[data-request-id]")).ToHaveCountAsync(0);
        Assert.DoesNotContain(bobRequest, await page.ContentAsync(), StringComparison.Ordinal);

        // Bob's account id: Alice is told she sees only her own usage, and sees only hers.
        visit = await page.GotoAsync($"/console/usage?account={bob.Id}");
        Assert.Equal(200, visit!.Status);
        await Expect(page.GetByTestId("warning")).ToContainTextAsync("only see your own usage");
        Assert.Equal([aliceRequest], await RowIdsAsync(page));
        await Expect(page.GetByTestId("admin-view")).ToHaveCountAsync(0);

        // The CSV export answers the same way.
        using var client = await ConsoleBrowser.HttpClientWithCookiesOfAsync(page, _gateway.Address);
        var byKey = await client.GetStringAsync($"console/usage?handler=csv&key={bobKey.Row.Id}");
        Assert.Equal([UsageQueries.CsvHeader], Lines(byKey));
        using (var export = await client.GetAsync("console/usage?handler=csv", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal("text/csv", export.Content.Headers.ContentType?.MediaType);
            Assert.Equal("attachment", export.Content.Headers.ContentDisposition?.DispositionType);
            Assert.True(export.Headers.TransferEncodingChunked, "the export is streamed, not buffered");
            Assert.Null(export.Content.Headers.ContentLength);
        }

        var byAccount = Lines(await client.GetStringAsync($"console/usage?handler=csv&account={bob.Id}"));
        Assert.Equal([aliceRequest], byAccount.Skip(1).Select(line => line.Split(',')[1]));
        Assert.Equal(aliceKeyId.ToString(CultureInfo.InvariantCulture), byAccount[1].Split(',')[2]);

        // An admin may look at Bob's usage from the Users page, clearly labelled.
        await _gateway.CreateUserAsync(email: "admin@example.com", role: AccountRole.Admin);
        var admin = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(admin, "admin@example.com");
        await admin.GotoAsync("/console/admin/users?q=bob");
        await admin.Locator("tr[data-user='bob@example.com']").GetByTestId("user-usage").ClickAsync();
        await Expect(admin.GetByTestId("admin-view")).ToContainTextAsync("bob@example.com");
        Assert.Equal([bobRequest], await RowIdsAsync(admin));
        await Expect(admin.Locator($"tr[data-request-id='{bobRequest}'] [data-testid=key]")).ToHaveTextAsync("bob's laptop");
        await ConsoleBrowser.ScreenshotAsync(admin, "usage-admin-view");
    }

    [Theory]
    [InlineData("from=2026-13-45", "is not a date")]
    [InlineData("from=yesterday", "is not a date")]
    [InlineData("from=2026-11-20&to=2026-11-01", "end date is before the start date")]
    [InlineData("from=2024-01-01&to=2026-01-01", "at most 366 days")]
    [InlineData("from=0001-01-01&to=0001-01-02", "out of range")]
    [InlineData("status=sideways", "status filter is not valid")]
    [InlineData("key=abc", "key filter is not valid")]
    [InlineData("cursor=not-a-cursor", "start again from the first page")]
    [InlineData("cursor=99999999999999999999.1", "start again from the first page")]
    [InlineData("handler=csv&from=2026-02-30", "is not a date")]
    [InlineData("handler=csv&from=2020-01-01&to=2026-01-01", "at most 366 days")]
    public async Task BadFilterInput_GivesAClearMessageOnThePage_NeverAnErrorPage(string query, string message)
    {
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignUpAsync(page, $"filters-{Guid.NewGuid():N}@example.com");

        var response = await page.GotoAsync("/console/usage?" + query);

        Assert.InRange(response!.Status, 200, 499);
        await Expect(page.GetByTestId("error")).ToContainTextAsync(message);
        await Expect(page.GetByTestId("summary-balance")).ToHaveTextAsync("$5.00");
        await Expect(page.GetByTestId("filters")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task MoneyHeldForARequestInFlight_IsShownBesideTheBalance()
    {
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignUpAsync(page, "in-flight@example.com");
        var (_, key) = await ConsoleBrowser.CreateKeyAsync(page, "agent");
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.SendAsync(
            Post("v1/responses", """{"model":"gpt-5.5","input":"Think for a long time.","stream":true}""", "stall_after=1"),
            HttpCompletionOption.ResponseHeadersRead);
        var account = await AccountAsync(_gateway, (await _gateway.Get<ApiKeyCache>().FindAsync(key, CancellationToken.None))!.AccountId);
        Assert.True(account.ReservedMicros > 0);

        await page.GotoAsync("/console/usage");

        await Expect(page.GetByTestId("summary-reserved")).ToHaveTextAsync(Money.Format(account.ReservedMicros));
        await Expect(page.GetByTestId("summary-balance")).ToHaveTextAsync(Money.Format(account.BalanceMicros));
        Assert.Equal(5_000_000 - account.ReservedMicros, account.BalanceMicros);
    }

    [Fact]
    public async Task UsagePage_FitsAPhoneScreen_WithoutSidewaysScrolling()
    {
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignUpAsync(page, "phone-usage@example.com");
        var (_, key) = await ConsoleBrowser.CreateKeyAsync(page, "phone");
        await WaitForRecordAsync(_gateway, await SendAsync(key, "gpt-5.5", stream: true, "usage=2000,100,500,20"));
        await WaitForRecordAsync(_gateway, await SendAsync(key, "gpt-5.5", stream: true, "deltas=12 drop_after=9 delay_events_ms=10 text=\"A long answer that is cut off halfway through.\""));
        await page.SetViewportSizeAsync(390, 844);

        await page.GotoAsync("/console/usage");

        await Expect(page.Locator("tr[data-request-id]")).ToHaveCountAsync(2);
        await Expect(page.GetByTestId("estimated")).ToBeVisibleAsync();
        Assert.True(
            await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"),
            "/console/usage is wider than a phone screen");
        await ConsoleBrowser.ScreenshotAsync(page, "phone-usage");
    }

    private async Task<string> SendAsync(string key, string model, bool stream, string? sim)
    {
        using var client = _gateway.ClientWithKey(key);
        var body = $$"""{"model":"{{model}}","input":"Say hello to the usage page.","stream":{{(stream ? "true" : "false")}}}""";
        using var response = await client.SendAsync(Post("v1/responses", body, sim), HttpCompletionOption.ResponseHeadersRead);
        _ = await response.Content.ReadAsStringAsync();
        return RequestId(response);
    }

    private static async Task<List<string>> RowIdsAsync(IPage page)
    {
        await Expect(page.GetByTestId("filters")).ToBeVisibleAsync();
        return [.. (await page.Locator("tr[data-request-id]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.getAttribute('data-request-id'))"))];
    }

    private static List<string> Ids(IEnumerable<UsageRecord> records) =>
        [.. records.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id).Select(r => r.RequestId)];

    private static async Task<List<string>> DownloadCsvAsync(IPage page)
    {
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("export").ClickAsync());
        Assert.EndsWith(".csv", download.SuggestedFilename, StringComparison.Ordinal);
        var path = Path.Combine(ConsoleBrowser.ScreenshotDirectory, "..", $"usage-{Guid.NewGuid():N}.csv");
        await download.SaveAsAsync(path);
        var lines = Lines(await File.ReadAllTextAsync(path));
        File.Delete(path);
        return lines;
    }

    private static List<string> Lines(string text) =>
        [.. text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0)];
}
