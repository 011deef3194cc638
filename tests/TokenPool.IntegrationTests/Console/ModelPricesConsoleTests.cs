using System.Text;
using System.Text.RegularExpressions;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>The admin's model price page in a real Chromium, and what a price change does to real requests.</summary>
public sealed class ModelPricesConsoleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task AdminChangesPrices_NewRequestsPayNewPrices_EarlierUsageKeepsOldOnes()
    {
        await _gateway.CreateUserAsync(email: "admin@example.com", role: AccountRole.Admin);
        await _gateway.CreateUserAsync(email: "carol@example.com");
        var (_, key) = await _gateway.CreateAccountKeyAsync(creditUsd: 50);

        // A request before the change is charged at the catalogue's default prices.
        await SendAsync(key);

        // Carol, not an admin, is kept out.
        var carolPage = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(carolPage, "carol@example.com");
        await Expect(carolPage).ToHaveURLAsync(new Regex("/console/api-keys$"));
        Assert.Equal(403, (await carolPage.GotoAsync("/console/admin/models"))!.Status);
        await Expect(carolPage.Locator("header")).Not.ToContainTextAsync("Models");

        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "admin@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await page.ClickAsync("header nav >> text=Models");
        await Expect(page).ToHaveURLAsync(new Regex("/console/admin/models$"));
        var row = page.Locator("tr[data-model='gpt-5.5']");
        await Expect(row.GetByTestId("input-price")).ToHaveTextAsync("$1.25");
        await Expect(row.GetByTestId("cached-price")).ToHaveTextAsync("$0.125");
        await Expect(row.GetByTestId("output-price")).ToHaveTextAsync("$10.00");
        await Expect(row.GetByTestId("reserve")).ToContainTextAsync("16,384");
        await ConsoleBrowser.ScreenshotAsync(page, "admin-models");

        // Bad input: a clear message on the page, nothing saved.
        await row.GetByTestId("edit-model").ClickAsync();
        await Expect(page.Locator("#model")).ToHaveValueAsync("gpt-5.5");
        await Expect(page.Locator("#input")).ToHaveValueAsync("1.25");
        foreach (var (input, message) in new[] { ("-1", "cannot be negative"), ("1.2345678", "at most 6 decimal places"), ("lots", "is not a number"), ("99999", "at most $10,000") })
        {
            await page.FillAsync("#input", input);
            await page.GetByTestId("save-model").ClickAsync();
            await Expect(page.GetByTestId("error")).ToContainTextAsync(message);
            Assert.Equal(1_250_000, _gateway.Get<PriceCatalog>().Find("gpt-5.5")!.InputMicrosPerMillion);
        }

        await ConsoleBrowser.ScreenshotAsync(page, "admin-models-error");

        // The change: input $2.50, cached $0.30, output $20.
        await page.FillAsync("#input", "2.50");
        await page.FillAsync("#cachedInput", "0.3");
        await page.FillAsync("#output", "$20");
        await page.GetByTestId("save-model").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Saved gpt-5.5");
        await Expect(row.GetByTestId("input-price")).ToHaveTextAsync("$2.50");
        await Expect(row.GetByTestId("cached-price")).ToHaveTextAsync("$0.30");
        await Expect(row.GetByTestId("output-price")).ToHaveTextAsync("$20.00");
        await Expect(row.GetByTestId("reserve")).ToContainTextAsync("16,384");
        await Expect(row).ToContainTextAsync("Flagship coding model");

        // A request after the change pays the new prices; the earlier record keeps the old ones.
        await SendAsync(key);
        var records = (await _gateway.UsageRecordsAsync()).Where(r => r.Model == "gpt-5.5").ToList();
        Assert.Equal(2, records.Count);
        AssertChargedAt(records[0], 1_250_000, 125_000, 10_000_000);
        AssertChargedAt(records[1], 2_500_000, 300_000, 20_000_000);

        // The public model page shows the new prices.
        var publicPage = await _browser.NewPageAsync();
        await publicPage.GotoAsync("/models");
        var publicRow = publicPage.Locator("tr", new() { HasText = "gpt-5.5" }).First;
        await Expect(publicRow).ToContainTextAsync("$2.50");
        await Expect(publicRow).ToContainTextAsync("$0.30");
        await Expect(publicRow).ToContainTextAsync("$20.00");

        // Adding a model: cached input defaults to a tenth of input, as with `tokenpool model set`.
        await page.GotoAsync("/console/admin/models");
        await page.FillAsync("#model", "house-model");
        await page.FillAsync("#input", "0.40");
        await page.FillAsync("#output", "1.6");
        await page.FillAsync("#reserveOutput", "2048");
        await page.GetByTestId("save-model").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Added house-model");
        var added = page.Locator("tr[data-model='house-model']");
        await Expect(added.GetByTestId("cached-price")).ToHaveTextAsync("$0.04");
        await Expect(added.GetByTestId("reserve")).ToContainTextAsync("2,048");
        Assert.Equal(2048, _gateway.Get<PriceCatalog>().Find("house-model")!.ReserveOutputTokens);
        await ConsoleBrowser.ScreenshotAsync(page, "admin-models-saved");

        // Both changes are in the admin's activity log.
        await page.GotoAsync("/console/account");
        await Expect(page.Locator("main")).ToContainTextAsync("Model prices changed");
        await Expect(page.Locator("main")).ToContainTextAsync("Model added");
        await Expect(page.Locator("main")).ToContainTextAsync("input $2.50");
    }

    private static void AssertChargedAt(UsageRecord record, long input, long cached, long output)
    {
        Assert.Equal((input, cached, output), (record.InputMicrosPerMillion, record.CachedInputMicrosPerMillion, record.OutputMicrosPerMillion));
        Assert.True(record.InputTokens > 0 && record.OutputTokens > 0);
        var numerator = ((Int128)(record.InputTokens - record.CachedInputTokens) * input) + ((Int128)record.CachedInputTokens * cached) + ((Int128)record.OutputTokens * output);
        var expected = (long)((numerator + 999_999) / 1_000_000);
        Assert.Equal(expected, record.CostMicros);
    }

    private async Task SendAsync(string key)
    {
        using var client = _gateway.ClientWithKey(key);
        var prompt = string.Join(' ', Enumerable.Repeat("Refactor the billing module and explain each change.", 40));
        using var response = await client.PostAsync("v1/responses", new StringContent($$"""{"model":"gpt-5.5","input":"{{prompt}}"}""", Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }
}
