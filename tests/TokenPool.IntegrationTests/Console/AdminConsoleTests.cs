using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using TokenPool.Accounts;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using TokenPool.Upstreams;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>The admin pages in a real Chromium: users, credit, disabling, roles, channels.</summary>
public sealed class AdminConsoleTests : IAsyncLifetime
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
    public async Task Admin_FindsUser_ChangesCredit_DisablesAndEnables_MakesAdmin_WithoutSeeingKeys()
    {
        await _gateway.CreateUserAsync(creditUsd: 0, email: "admin@example.com", role: AccountRole.Admin);
        var carol = await _gateway.CreateUserAsync(creditUsd: 1, email: "carol@example.com");
        var carolKey = (await _gateway.Get<ApiKeyService>().CreateAsync(carol.Id, new NewKeySettings("ci"), null, CancellationToken.None)).Key;
        await _gateway.CreateUserAsync(email: "dave@example.com");

        // Carol, not an admin, is kept out of the admin pages.
        var carolPage = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(carolPage, "carol@example.com");
        await Expect(carolPage).ToHaveURLAsync(new Regex("/console/api-keys$"));
        Assert.Equal(403, (await carolPage.GotoAsync("/console/admin/users"))!.Status);
        Assert.Equal(403, (await carolPage.GotoAsync("/console/admin/channels"))!.Status);
        await Expect(carolPage.Locator("header")).Not.ToContainTextAsync("Users");

        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "admin@example.com");
        await page.GotoAsync("/console/admin/users");
        await ConsoleBrowser.ScreenshotAsync(page, "admin-users");
        await page.FillAsync("#q", "carol");
        await page.ClickAsync("button >> text=Search");
        await Expect(page.Locator("table[data-testid=users] tbody tr")).ToHaveCountAsync(1);
        var row = page.Locator("tr[data-user='carol@example.com']");

        // Credit: granted and removed, each with a reason in the ledger.
        await row.Locator("input[name=amountUsd]").FillAsync("10");
        await row.Locator("input[name=reason]").FillAsync("Welcome bonus");
        await row.GetByTestId("credit").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("$11.00");
        await row.Locator("input[name=amountUsd]").FillAsync("-3");
        await row.Locator("input[name=reason]").FillAsync("Refund correction");
        await row.GetByTestId("credit").ClickAsync();
        await Expect(row.GetByTestId("user-balance")).ToHaveTextAsync("$8.00");
        await Expect(page.GetByTestId("ledger")).ToContainTextAsync("Welcome bonus");
        await Expect(page.GetByTestId("ledger")).ToContainTextAsync("admin@example.com");
        Assert.Equal(8_000_000, (await _gateway.Get<AccountService>().FindAsync(carol.Id, CancellationToken.None))!.BalanceMicros);
        await row.Locator("input[name=amountUsd]").FillAsync("-100");
        await row.Locator("input[name=reason]").FillAsync("Too much");
        await row.GetByTestId("credit").ClickAsync();
        await Expect(page.GetByTestId("error")).ToContainTextAsync("below zero");
        await ConsoleBrowser.ScreenshotAsync(page, "admin-users-credit");

        // Disable: her key and her session stop at once; enable brings the key back.
        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(carolKey));
        await row.GetByTestId("toggle-disabled").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("disabled");
        using (var client = _gateway.ClientWithKey(carolKey))
        using (var refused = await client.PostAsync("v1/responses", new StringContent("""{"model":"gpt-5.5","input":"hi"}""", Encoding.UTF8, "application/json")))
        {
            await Api.AssertErrorAsync(refused, HttpStatusCode.Forbidden, "account_disabled", "account that owns this API key is disabled");
        }

        await carolPage.GotoAsync("/console/api-keys");
        await Expect(carolPage).ToHaveURLAsync(new Regex("/console/sign-in"));
        await row.GetByTestId("toggle-disabled").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("enabled again");
        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(carolKey));

        // Make admin: Carol can now open the admin pages.
        await row.GetByTestId("toggle-admin").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("now an admin");
        await ConsoleBrowser.SignInAsync(carolPage, "carol@example.com");
        Assert.Equal(200, (await carolPage.GotoAsync("/console/admin/users"))!.Status);

        // An admin never sees a user's full key.
        Assert.DoesNotContain(carolKey, await page.ContentAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain(carolKey[..20], await page.ContentAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Admin_AddsEditsTestsDisablesAndDeletesChannels_UpstreamKeyNeverShown()
    {
        await _gateway.CreateUserAsync(email: "ops@example.com", role: AccountRole.Admin);
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "ops@example.com");
        await page.GotoAsync("/console/admin/channels");
        await Expect(page.Locator("tr[data-channel='sim-1']")).ToBeVisibleAsync();
        await ConsoleBrowser.ScreenshotAsync(page, "admin-channels");

        // Test channel: a real request to the upstream.
        await page.Locator("tr[data-channel='sim-1']").GetByTestId("test-channel").ClickAsync();
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("Success");

        // Add: the upstream key is stored encrypted and shown only by its last four characters.
        var upstreamKey = _gateway.UpstreamKeys[0];
        await page.FillAsync("#name", "backup");
        await page.FillAsync("#baseUrl", _gateway.Upstreams[0].BaseUrl);
        await Expect(page.Locator("#wire-responses")).ToBeCheckedAsync();
        await Expect(page.Locator("#wire-chat")).ToBeCheckedAsync();
        await page.UncheckAsync("#wire-responses");
        await page.FillAsync("#models", "gpt-5.5, gpt-5.4-mini");
        await page.FillAsync("#upstreamKey", upstreamKey);
        await Expect(page.Locator("#connectTimeout")).ToHaveAttributeAsync("placeholder", "10");
        await Expect(page.Locator("#totalTimeout")).ToHaveAttributeAsync("placeholder", "3600");
        await page.FillAsync("#totalTimeout", "120");
        await page.ClickAsync("button >> text=Add channel");
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("added");
        var backup = page.Locator("tr[data-channel='backup']");
        await Expect(backup).ToContainTextAsync("…" + upstreamKey[^4..]);
        await Expect(backup).ToContainTextAsync("chat");
        Assert.DoesNotContain(upstreamKey, await page.ContentAsync(), StringComparison.Ordinal);
        var stored = (await _gateway.Get<ChannelService>().FindAsync("backup", CancellationToken.None))!;
        Assert.DoesNotContain(upstreamKey, stored.Keys[0].ProtectedKey, StringComparison.Ordinal);
        Assert.Equal(WireSet.Of(TokenPool.Gateway.Translation.ApiKind.ChatCompletions), stored.Wire);

        await backup.GetByTestId("test-channel").ClickAsync();
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("Success");

        // Edit.
        await page.Locator("tr[data-channel='backup'] >> text=Edit").ClickAsync();
        await Expect(page.Locator("#totalTimeout")).ToHaveValueAsync("120");
        await Expect(page.Locator("#idleTimeout")).ToHaveValueAsync("");
        await Expect(page.Locator("#idleTimeout")).ToHaveAttributeAsync("placeholder", "300");
        await Expect(page.Locator("#headersTimeout")).ToHaveAttributeAsync("placeholder", "600");
        await page.FillAsync("#priority", "5");
        await page.FillAsync("#models", "gpt-5.5");
        await page.FillAsync("#idleTimeout", "45");
        await page.FillAsync("#connectTimeout", "5");
        await page.GetByTestId("save-channel").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Saved");
        await Expect(page.Locator("#idleTimeout")).ToHaveValueAsync("45");
        await Expect(page.Locator("#totalTimeout")).ToHaveValueAsync("120");
        Assert.DoesNotContain(upstreamKey, await page.ContentAsync(), StringComparison.Ordinal);
        await ConsoleBrowser.ScreenshotAsync(page, "admin-channel");
        stored = (await _gateway.Get<ChannelService>().FindAsync("backup", CancellationToken.None))!;
        Assert.Equal(5, stored.Priority);
        Assert.Equal("gpt-5.5", stored.Models);
        Assert.Equal((5, (int?)null, 45, 120), (stored.ConnectTimeoutSeconds, stored.ResponseHeadersTimeoutSeconds, stored.StreamIdleTimeoutSeconds, stored.TotalTimeoutSeconds));
        Assert.True(await Api.EventuallyAsync(() => _gateway.Get<UpstreamPool>().Snapshot.Channels.Any(c => c.Id == stored.Id && c.TotalTimeout == TimeSpan.FromSeconds(120) && c.StreamIdleTimeout == TimeSpan.FromSeconds(45)), TimeSpan.FromSeconds(5)), "the running gateway did not take the channel's timeouts");

        // A timeout out of range is refused with a message, not saved.
        await page.FillAsync("#totalTimeout", "0");
        await page.EvaluateAsync("document.querySelector('#totalTimeout').removeAttribute('min')");
        await page.GetByTestId("save-channel").ClickAsync();
        await Expect(page.GetByTestId("error")).ToContainTextAsync("total timeout must be from 1 to 86400 seconds");
        Assert.Equal(120, (await _gateway.Get<ChannelService>().FindAsync("backup", CancellationToken.None))!.TotalTimeoutSeconds);

        // Disable, then delete.
        await page.GotoAsync("/console/admin/channels");
        await page.Locator("tr[data-channel='backup']").GetByTestId("toggle-channel").ClickAsync();
        await Expect(page.Locator("tr[data-channel='backup']")).ToContainTextAsync("disabled");
        Assert.False((await _gateway.Get<ChannelService>().FindAsync("backup", CancellationToken.None))!.IsEnabled);
        await page.Locator("tr[data-channel='backup']").GetByTestId("delete-channel").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("deleted");
        await Expect(page.Locator("tr[data-channel='backup']")).ToHaveCountAsync(0);
        Assert.Null(await _gateway.Get<ChannelService>().FindAsync("backup", CancellationToken.None));
    }

    private async Task<HttpStatusCode> StatusWithKeyAsync(string key)
    {
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.PostAsync("v1/responses", new StringContent("""{"model":"gpt-5.5","input":"hi"}""", Encoding.UTF8, "application/json"));
        return response.StatusCode;
    }
}
