using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>The API keys page in a real Chromium: every action the published docs promise.</summary>
public sealed class ApiKeyConsoleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(options =>
        {
            options.Settings["Accounts:StartingCreditUsd"] = "5";
            options.Settings["Console:RecentPasswordSeconds"] = "2";
        });
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task SignUp_Create_Copy_Reveal_Test_Configure_Rotate_Delete_WorksEndToEnd()
    {
        var page = await _browser.NewPageAsync();
        await page.GotoAsync("/console");
        await Expect(page).ToHaveURLAsync(new Regex("/console/sign-in"));
        await ConsoleBrowser.ScreenshotAsync(page, "sign-in");
        await page.GotoAsync("/console/sign-up");
        await ConsoleBrowser.ScreenshotAsync(page, "sign-up");

        await ConsoleBrowser.SignUpAsync(page, "laptop-owner@example.com");
        await Expect(page.GetByTestId("balance")).ToContainTextAsync("$5.00");

        // Create: the full key once, with a copy button that really copies.
        var (keyId, key) = await ConsoleBrowser.CreateKeyAsync(page, "laptop", "gpt-5.5", "gpt-5.4-nano");
        Assert.Equal(ApiKeyShape.Valid, ApiKeyFormat.Check(key));
        await ConsoleBrowser.ScreenshotAsync(page, "api-keys-created");
        await page.GetByTestId("new-key").GetByTestId("copy").ClickAsync();
        await Expect(page.GetByTestId("new-key").GetByTestId("copy")).ToHaveTextAsync("Copied");
        Assert.Equal(key, await page.EvaluateAsync<string>("() => navigator.clipboard.readText()"));

        // List: masked, never the whole key.
        await page.GotoAsync("/console/api-keys");
        var row = page.Locator($"tr[data-key-id='{keyId}']");
        await Expect(row).ToContainTextAsync("laptop");
        await Expect(row).ToContainTextAsync(ApiKeyFormat.Mask(ApiKeyFormat.DisplayPrefix(key), ApiKeyFormat.Last4(key)));
        await Expect(row).ToContainTextAsync("never");
        Assert.DoesNotContain(key, await page.ContentAsync(), StringComparison.Ordinal);
        await ConsoleBrowser.ScreenshotAsync(page, "api-keys");

        // Reveal: the password is asked again once it is no longer recent.
        await page.ClickAsync($"tr[data-key-id='{keyId}'] >> text=Manage");
        await Expect(page).ToHaveURLAsync(new Regex($"/console/api-keys/{keyId}$"));
        await ConsoleBrowser.ScreenshotAsync(page, "api-key");
        await Task.Delay(2500);
        await page.GetByTestId("reveal").ClickAsync();
        await Expect(page.GetByTestId("password-prompt")).ToBeVisibleAsync();
        Assert.DoesNotContain(key, await page.ContentAsync(), StringComparison.Ordinal);
        await page.FillAsync("#password", "not my password at all");
        await page.GetByTestId("confirm-password").ClickAsync();
        await Expect(page.GetByTestId("password-error")).ToContainTextAsync("not right");
        await ConsoleBrowser.ScreenshotAsync(page, "api-key-reveal-password");
        await page.FillAsync("#password", ConsoleBrowser.Password);
        await page.GetByTestId("confirm-password").ClickAsync();
        await Expect(page.GetByTestId("revealed").GetByTestId("key-value")).ToHaveTextAsync(key);
        await page.GetByTestId("revealed").GetByTestId("copy").ClickAsync();
        await Expect(page.GetByTestId("revealed").GetByTestId("copy")).ToHaveTextAsync("Copied");
        Assert.Equal(key, await page.EvaluateAsync<string>("() => navigator.clipboard.readText()"));
        await ConsoleBrowser.ScreenshotAsync(page, "api-key-revealed");

        // The reveal is in the owner's audit log.
        await Expect(page.GetByTestId("key-audit")).ToContainTextAsync("Key revealed");
        await page.GotoAsync("/console/account");
        await Expect(page.GetByTestId("audit")).ToContainTextAsync("Key revealed");
        await ConsoleBrowser.ScreenshotAsync(page, "account");

        // Test: a real request through the API; success with model and latency.
        await page.GotoAsync($"/console/api-keys/{keyId}");
        await page.GetByTestId("test").ClickAsync();
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("Success");
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("gpt-5.5");
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync(new Regex(@"\d+ ms"));
        Assert.NotEmpty(_gateway.Upstreams[0].Requests);
        await ConsoleBrowser.ScreenshotAsync(page, "api-key-test");

        // Test with a model the key may not use: the exact error a client gets.
        await page.SelectOptionAsync("#model", "gpt-5.4");
        await page.GetByTestId("test").ClickAsync();
        using (var client = _gateway.ClientWithKey(key))
        using (var direct = await client.PostAsync("v1/responses", new StringContent("""{"model":"gpt-5.4","input":"hi"}""", Encoding.UTF8, "application/json")))
        {
            var error = JsonDocument.Parse(await direct.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            await Expect(page.GetByTestId("test-result")).ToContainTextAsync($"HTTP {(int)direct.StatusCode}");
            await Expect(page.GetByTestId("test-result")).ToContainTextAsync(error.GetProperty("message").GetString()!);
        }

        await ConsoleBrowser.ScreenshotAsync(page, "api-key-test-error");

        // Configure: the ClientSetup snippets for this key and this deployment, and CC Switch links.
        await page.GetByTestId("configure").ClickAsync();
        await ConfirmPasswordIfAskedAsync(page);
        var panel = page.GetByTestId("configure-panel");
        await Expect(panel).ToBeVisibleAsync();
        var setup = new ClientSetup(_gateway.Address.ToString().TrimEnd('/'), key, "gpt-5.5", "gpt-5.4-nano");
        Assert.Equal(setup.CodexAuthJson().Trim(), (await page.GetByTestId("snippet-codex-auth").TextContentAsync())!.Trim());
        Assert.Equal(setup.CodexConfigToml().Trim(), (await page.GetByTestId("snippet-codex-config").TextContentAsync())!.Trim());
        Assert.Equal(setup.OpenCodeJson().Trim(), (await page.GetByTestId("snippet-opencode").TextContentAsync())!.Trim());
        Assert.Equal(setup.EnvironmentVariables().Trim(), (await page.GetByTestId("snippet-env").TextContentAsync())!.Trim());
        Assert.Contains($"base_url = \"{_gateway.Address.ToString().TrimEnd('/')}/v1\"", setup.CodexConfigToml(), StringComparison.Ordinal);
        var codexLink = await page.GetByTestId("ccswitch-codex").GetAttributeAsync("href");
        var openCodeLink = await page.GetByTestId("ccswitch-opencode").GetAttributeAsync("href");
        Assert.StartsWith("ccswitch://v1/import?resource=provider&app=codex&", codexLink, StringComparison.Ordinal);
        Assert.StartsWith("ccswitch://v1/import?resource=provider&app=opencode&", openCodeLink, StringComparison.Ordinal);
        Assert.Contains("endpoint=" + Uri.EscapeDataString(setup.ApiRoot), codexLink, StringComparison.Ordinal);
        Assert.Contains("apiKey=" + Uri.EscapeDataString(key), openCodeLink, StringComparison.Ordinal);
        await ConsoleBrowser.ScreenshotAsync(page, "api-key-configure");

        // Rotate: a new key with the same name and settings; the old one is refused at once.
        await page.GetByTestId("rotate").ClickAsync();
        var rotated = (await page.GetByTestId("new-key").GetByTestId("key-value").TextContentAsync())!.Trim();
        Assert.NotEqual(key, rotated);
        await Expect(page.Locator("h1")).ToContainTextAsync("laptop");
        await ConsoleBrowser.ScreenshotAsync(page, "api-key-rotated");
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithKeyAsync(key));
        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(rotated));

        // Delete: the next request with the key gets 401.
        await page.GetByTestId("delete").ClickAsync();
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys\\?notice=deleted"));
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("deleted");
        Assert.Equal(HttpStatusCode.Unauthorized, await StatusWithKeyAsync(rotated));
        await ConsoleBrowser.ScreenshotAsync(page, "api-keys-after-delete");
    }

    [Fact]
    public async Task CreateWithExpiryAndSpendLimit_ThenTest_ShowsTheNoQuotaAndExpiredErrorsAClientGets()
    {
        var account = await _gateway.CreateUserAsync(0m, "nora@example.com");
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "nora@example.com");
        await page.GotoAsync("/console/api-keys");
        await page.FillAsync("#name", "short-lived");
        await page.SelectOptionAsync("#expiresInDays", "7");
        await page.FillAsync("#spendLimitUsd", "1.50");
        var created = DateTime.UtcNow;
        await page.ClickAsync("button >> text=Create key");
        var key = (await page.GetByTestId("key-value").TextContentAsync())!.Trim();

        var row = await KeyRowAsync(account.Id);
        Assert.Equal(1_500_000, row.SpendLimitMicros);
        Assert.Equal(created.AddDays(7), row.ExpiresAt!.Value, TimeSpan.FromMinutes(1));
        await Expect(page.GetByTestId("keys")).ToContainTextAsync(row.ExpiresAt.Value.ToString("yyyy-MM-dd HH:mm", System.Globalization.CultureInfo.InvariantCulture));

        // The account has no credit: Test shows the very error a client gets.
        await page.GotoAsync($"/console/api-keys/{row.Id}");
        await Expect(page.Locator("main")).ToContainTextAsync("$0.00 of $1.50 used");
        await page.GetByTestId("test").ClickAsync();
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("HTTP 429 insufficient_quota");

        // The amount it needed depends on the request; the rest is word for word what a client reads.
        var noQuota = await ClientErrorMessageAsync(key);
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync(noQuota[..noQuota.IndexOf(" and this request", StringComparison.Ordinal)]);
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync(noQuota[noQuota.IndexOf("Review usage", StringComparison.Ordinal)..]);

        // Once the key has expired, Test says so, as a client would be told.
        await using (var db = await _gateway.Get<Microsoft.EntityFrameworkCore.IDbContextFactory<TokenPool.Data.TokenPoolDb>>().CreateDbContextAsync())
        {
            var stored = await db.ApiKeys.SingleAsync(k => k.Id == row.Id);
            stored.ExpiresAt = DateTime.UtcNow.AddMinutes(-5);
            await db.SaveChangesAsync();
        }

        await page.GetByTestId("test").ClickAsync();
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("HTTP 401 invalid_api_key");
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("expired");
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync(await ClientErrorMessageAsync(key));
    }

    [Fact]
    public async Task Configure_UsesTheDeploymentsApiHost_NotTheAddressTheConsoleWasOpenedOn()
    {
        await using var gateway = await TestGateway.StartAsync(o =>
        {
            o.Settings["Hosts:ApiHosts:0"] = "api.clawto.test";
            o.Settings["Hosts:ApiHosts:1"] = "api.tokenpool.test";
            o.Settings["Hosts:WebHost"] = "tokenpool.test";
        });
        await using var browser = await ConsoleBrowser.LaunchAsync(gateway);
        await gateway.CreateUserAsync(email: "olga@example.com");
        var page = await browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "olga@example.com");
        var (keyId, key) = await ConsoleBrowser.CreateKeyAsync(page, "laptop");

        await page.GotoAsync($"/console/api-keys/{keyId}");
        await page.GetByTestId("configure").ClickAsync();
        await ConfirmPasswordIfAskedAsync(page);

        var setup = new ClientSetup("https://api.clawto.test", key, "gpt-5.5", "gpt-5.4-nano");
        Assert.Equal(setup.CodexConfigToml().Trim(), (await page.GetByTestId("snippet-codex-config").TextContentAsync())!.Trim());
        Assert.Contains("base_url = \"https://api.clawto.test/v1\"", setup.CodexConfigToml(), StringComparison.Ordinal);
        Assert.Equal(setup.OpenCodeJson().Trim(), (await page.GetByTestId("snippet-opencode").TextContentAsync())!.Trim());
        Assert.DoesNotContain("127.0.0.1", await page.GetByTestId("configure-panel").TextContentAsync() ?? "", StringComparison.Ordinal);
    }

    private async Task<ApiKey> KeyRowAsync(long accountId)
    {
        await using var db = await _gateway.Get<Microsoft.EntityFrameworkCore.IDbContextFactory<TokenPool.Data.TokenPoolDb>>().CreateDbContextAsync();
        return await db.ApiKeys.SingleAsync(k => k.AccountId == accountId);
    }

    private async Task<string> ClientErrorMessageAsync(string key)
    {
        using var client = _gateway.ClientWithKey(key);
        using var direct = await client.PostAsync("v1/responses", new StringContent("""{"model":"gpt-5.5","input":"hi"}""", Encoding.UTF8, "application/json"));
        return JsonDocument.Parse(await direct.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("message").GetString()!;
    }

    [Fact]
    public async Task OtherAccountsKey_IsNotFound_InTheBrowserAndOverHttp()
    {
        var owner = await _gateway.CreateUserAsync(email: "bob@example.com");
        var bobKey = await _gateway.Get<ApiKeyService>().CreateAsync(owner.Id, new NewKeySettings("bob's laptop"), null, CancellationToken.None);
        var intruder = await _gateway.CreateUserAsync(email: "alice@example.com");
        var aliceKey = await _gateway.Get<ApiKeyService>().CreateAsync(intruder.Id, new NewKeySettings("alice's laptop"), null, CancellationToken.None);

        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "alice@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await Expect(page.Locator("table[data-testid=keys]")).Not.ToContainTextAsync("bob's laptop");
        var visit = await page.GotoAsync($"/console/api-keys/{bobKey.Row.Id}");
        Assert.Equal(404, visit!.Status);

        using var client = await ConsoleBrowser.HttpClientWithCookiesOfAsync(page, _gateway.Address);
        var token = await ConsoleBrowser.AntiforgeryTokenAsync(client, $"console/api-keys/{aliceKey.Row.Id}");
        Assert.NotEmpty(token);

        // The same token works on Alice's own key, so the 404s below are about ownership.
        using (var own = await PostAsync(client, aliceKey.Row.Id, "reveal", token))
        {
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
            Assert.Contains(aliceKey.Key, await own.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        foreach (var handler in new[] { "reveal", "configure", "test", "rotate", "delete" })
        {
            using var response = await PostAsync(client, bobKey.Row.Id, handler, token);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.DoesNotContain(bobKey.Key, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var get = await client.GetAsync($"console/api-keys/{bobKey.Row.Id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        }

        // Without the antiforgery token, even the owner's action is refused.
        using (var forged = await client.PostAsync($"console/api-keys/{aliceKey.Row.Id}?handler=delete", new FormUrlEncodedContent([])))
        {
            Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(bobKey.Key));
        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(aliceKey.Key));
        var bobsLog = await _gateway.Get<ApiKeyService>().AuditLogAsync(owner.Id, 100, CancellationToken.None);
        Assert.DoesNotContain(bobsLog, e => e.Kind != Accounts.AuditKinds.KeyCreated);
        Assert.NotNull(await _gateway.Get<ApiKeyService>().FindAsync(owner.Id, bobKey.Row.Id, CancellationToken.None));
    }

    [Fact]
    public async Task KeySettings_AllowAnotherModel_TheNextRequestMayUseIt()
    {
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignUpAsync(page, "settings-owner@example.com");
        var (keyId, key) = await ConsoleBrowser.CreateKeyAsync(page, "ci", "gpt-5.5");
        Assert.Equal(HttpStatusCode.Forbidden, await StatusWithKeyAsync(key, "gpt-5.4-mini"));

        await page.GotoAsync($"/console/api-keys/{keyId}");
        await page.SelectOptionAsync("#model", "gpt-5.4-mini");
        await page.GetByTestId("test").ClickAsync();
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("HTTP 403");
        await Expect(page.Locator("#model")).ToHaveValueAsync("gpt-5.4-mini");

        await page.ClickAsync("[data-testid=settings] summary");
        await page.FillAsync("#settings-name", "ci-runner");
        await page.CheckAsync("[data-testid=settings] input[name=models][value='gpt-5.4-mini']");
        await page.FillAsync("#settings-limit", "2.50");
        await page.GetByTestId("save-settings").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Saved");
        await Expect(page.Locator("h1")).ToContainTextAsync("ci-runner");
        await Expect(page.Locator("main")).ToContainTextAsync("of $2.50 used");
        await ConsoleBrowser.ScreenshotAsync(page, "api-key-settings");

        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(key, "gpt-5.4-mini"));
        await page.GetByTestId("test").ClickAsync();
        await Expect(page.GetByTestId("test-result")).ToContainTextAsync("Success");
        await Expect(page.GetByTestId("key-audit")).ToContainTextAsync("Key settings changed");
    }

    [Fact]
    public async Task KeySettings_RequestsPerMinute_RefusesTheNextRequestOverTheLimit_AndCanBeRemovedAgain()
    {
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignUpAsync(page, "limits-owner@example.com");
        var (keyId, key) = await ConsoleBrowser.CreateKeyAsync(page, "limited");
        await page.GotoAsync($"/console/api-keys/{keyId}");
        await Expect(page.GetByTestId("request-limits")).ToHaveTextAsync("none");

        await page.ClickAsync("[data-testid=settings] summary");
        await page.FillAsync("#settings-rpm", "1");
        await page.FillAsync("#settings-concurrency", "3");
        await page.GetByTestId("save-settings").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Saved");
        await Expect(page.GetByTestId("request-limits")).ToHaveTextAsync("1 request per minute, 3 at once");
        await Expect(page.Locator("#settings-rpm")).ToHaveValueAsync("1");

        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(key));
        Assert.Equal(HttpStatusCode.TooManyRequests, await StatusWithKeyAsync(key));

        await page.ClickAsync("[data-testid=settings] summary");
        await page.FillAsync("#settings-rpm", "");
        await page.GetByTestId("save-settings").ClickAsync();
        await Expect(page.GetByTestId("request-limits")).ToHaveTextAsync("3 at once");
        Assert.Equal(HttpStatusCode.OK, await StatusWithKeyAsync(key));
        await Expect(page.GetByTestId("key-audit")).ToContainTextAsync("Key request limits changed");
    }

    [Fact]
    public async Task KeyPages_FitAPhoneScreen_WithoutSidewaysScrolling()
    {
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignUpAsync(page, "phone-owner@example.com");
        var (keyId, _) = await ConsoleBrowser.CreateKeyAsync(page, "phone");
        await page.SetViewportSizeAsync(390, 844);
        foreach (var (path, name) in new[] { ("/console/api-keys", "phone-api-keys"), ($"/console/api-keys/{keyId}", "phone-api-key"), ("/console/account", "phone-account") })
        {
            await page.GotoAsync(path);
            if (name == "phone-api-key")
            {
                await page.GetByTestId("configure").ClickAsync();
                await ConfirmPasswordIfAskedAsync(page);
                await Expect(page.GetByTestId("configure-panel")).ToBeVisibleAsync();
            }

            Assert.True(
                await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"),
                $"{path} is wider than a phone screen");
            await ConsoleBrowser.ScreenshotAsync(page, name);
        }
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, long keyId, string handler, string token) =>
        client.PostAsync(
            $"console/api-keys/{keyId}?handler={handler}",
            new FormUrlEncodedContent([new("__RequestVerificationToken", token), new("password", ConsoleBrowser.Password)]));

    private static async Task ConfirmPasswordIfAskedAsync(IPage page)
    {
        if (await page.GetByTestId("password-prompt").IsVisibleAsync())
        {
            await page.FillAsync("#password", ConsoleBrowser.Password);
            await page.GetByTestId("confirm-password").ClickAsync();
        }
    }

    private async Task<HttpStatusCode> StatusWithKeyAsync(string key, string model = "gpt-5.5")
    {
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.PostAsync("v1/responses", new StringContent($$"""{"model":"{{model}}","input":"hi"}""", Encoding.UTF8, "application/json"));
        return response.StatusCode;
    }
}
