using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using TokenPool.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>Console accounts: sign-in throttling, password changes, sign-up policy, and the console staying out of the API's way.</summary>
public sealed class AccountConsoleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(options =>
        {
            options.Settings["Console:MaxWrongPasswordsPerAccount"] = "3";
            options.Settings["Console:MaxWrongPasswordsPerAddress"] = "6";
            options.Settings["Console:ThrottleFirstDelaySeconds"] = "60";
            options.Settings["Console:MaxAccountDelaySeconds"] = "60";
        });
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task WrongPasswords_ForOneAccount_PauseSignIn_WithAClearMessage()
    {
        await _gateway.CreateUserAsync(email: "erin@example.com");
        var page = await _browser.NewPageAsync();
        await page.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "192.0.2.10" });
        await ConsoleBrowser.SignInAsync(page, "erin@example.com", "wrong password 1");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("do not match");
        await ConsoleBrowser.SignInAsync(page, "erin@example.com", "wrong password 2");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("do not match");
        await ConsoleBrowser.SignInAsync(page, "erin@example.com", "wrong password 3");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("Too many wrong passwords");

        // Even the right password is refused while the pause lasts, and the page says so.
        await ConsoleBrowser.SignInAsync(page, "erin@example.com");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("Too many wrong passwords");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("try again in");
        await Expect(page).ToHaveURLAsync(new Regex("/console/sign-in"));
        await ConsoleBrowser.ScreenshotAsync(page, "sign-in-throttled");

        // Another account from the same address is not locked by Erin's pause.
        await _gateway.CreateUserAsync(email: "frank@example.com");
        await ConsoleBrowser.SignInAsync(page, "frank@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
    }

    [Fact]
    public async Task WrongPasswords_FromOneAddress_PauseSignIn_AcrossAccounts()
    {
        await _gateway.CreateUserAsync(email: "grace@example.com");
        var page = await _browser.NewPageAsync();
        await page.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "192.0.2.11" });
        for (var i = 0; i < 6; i++)
        {
            await ConsoleBrowser.SignInAsync(page, $"guess{i}@example.com", "password123456");
            await Expect(page.GetByTestId("error")).ToBeVisibleAsync();
        }

        await ConsoleBrowser.SignInAsync(page, "grace@example.com");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("Too many wrong passwords");
    }

    [Fact]
    public async Task AnAttackersWrongPasswords_DoNotStopTheOwner_OnABrowserThatSignedInBefore()
    {
        await _gateway.CreateUserAsync(email: "olivia@example.com");
        var owner = await _browser.NewPageAsync();
        await owner.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "192.0.2.20" });
        await ConsoleBrowser.SignInAsync(owner, "olivia@example.com");
        await Expect(owner).ToHaveURLAsync(new Regex("/console/api-keys$"));
        var device = Assert.Single(await owner.Context.CookiesAsync(), c => c.Name == "tokenpool_device");
        Assert.True(device.HttpOnly);
        Assert.Equal("/console", device.Path);
        await owner.ClickAsync("header >> text=Sign out");

        // Someone guesses Olivia's password from elsewhere until sign-in is paused for her account.
        var attacker = await _browser.NewPageAsync();
        await attacker.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "203.0.113.66" });
        for (var i = 0; i < 4; i++)
        {
            await ConsoleBrowser.SignInAsync(attacker, "olivia@example.com", $"guess number {i}");
            await Expect(attacker.GetByTestId("error")).ToBeVisibleAsync();
        }

        await ConsoleBrowser.SignInAsync(attacker, "olivia@example.com");
        await Expect(attacker.GetByTestId("error")).ToContainTextAsync("Too many wrong passwords");

        // A forged or foreign device cookie is no way around the pause.
        var forger = await _browser.NewPageAsync();
        await forger.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "203.0.113.67" });
        await forger.Context.AddCookiesAsync([new Microsoft.Playwright.Cookie { Name = "tokenpool_device", Value = "CfDJ8forged", Url = _gateway.Address.ToString() + "console" }]);
        await ConsoleBrowser.SignInAsync(forger, "olivia@example.com", "another guess 1");
        await Expect(forger.GetByTestId("error")).ToContainTextAsync("Too many wrong passwords");

        // On the browser she signed in with before, Olivia gets in at once with her password.
        await ConsoleBrowser.SignInAsync(owner, "olivia@example.com");
        await Expect(owner).ToHaveURLAsync(new Regex("/console/api-keys$"));
    }

    [Fact]
    public async Task BehindATrustedProxy_ThrottlingCountsTheForwardedClientAddress()
    {
        await _gateway.CreateUserAsync(email: "ivan@example.com");

        // The gateway's tests connect from loopback, which is where a local TLS terminator sits: a trusted proxy.
        var attacker = await _browser.NewPageAsync();
        await attacker.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "203.0.113.7" });
        for (var i = 0; i < 6; i++)
        {
            await ConsoleBrowser.SignInAsync(attacker, $"guess{i}@example.com", "password123456");
            await Expect(attacker.GetByTestId("error")).ToBeVisibleAsync();
        }

        await ConsoleBrowser.SignInAsync(attacker, "ivan@example.com");
        await Expect(attacker.GetByTestId("error")).ToContainTextAsync("Too many wrong passwords");

        // Another client behind the same proxy is not paused by the first one's guesses.
        var neighbour = await _browser.NewPageAsync();
        await neighbour.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "198.51.100.20" });
        await ConsoleBrowser.SignInAsync(neighbour, "ivan@example.com");
        await Expect(neighbour).ToHaveURLAsync(new Regex("/console/api-keys$"));
    }

    [Fact]
    public async Task BehindATlsTerminatingProxy_ConsoleCookiesAreSecure()
    {
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = _gateway.Address };
        using var plain = await client.GetAsync("console/sign-in");
        Assert.DoesNotContain("secure", plain.Headers.GetValues("Set-Cookie").Single(), StringComparison.OrdinalIgnoreCase);

        using var request = new HttpRequestMessage(HttpMethod.Get, "console/sign-in");
        request.Headers.Add("X-Forwarded-Proto", "https");
        using var proxied = await client.SendAsync(request);
        var cookie = Assert.Single(proxied.Headers.GetValues("Set-Cookie"), c => c.StartsWith("tokenpool_antiforgery=", StringComparison.Ordinal));
        Assert.Contains("secure", cookie, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task PasswordChange_SignsOutOtherSessions_KeepsThisOne_AndTheNewPasswordWorks()
    {
        await _gateway.CreateUserAsync(email: "heidi@example.com");
        var laptop = await _browser.NewPageAsync();
        var phone = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(laptop, "heidi@example.com");
        await ConsoleBrowser.SignInAsync(phone, "heidi@example.com");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/api-keys$"));

        await laptop.GotoAsync("/console/account");
        await laptop.FillAsync("#current", "wrong current password");
        await laptop.FillAsync("#newPassword", "a brand new passphrase");
        await laptop.FillAsync("#confirm", "a brand new passphrase");
        await laptop.ClickAsync("button >> text=Change password");
        await Expect(laptop.GetByTestId("error")).ToContainTextAsync("current password is not right");

        await laptop.FillAsync("#current", ConsoleBrowser.Password);
        await laptop.FillAsync("#newPassword", "a brand new passphrase");
        await laptop.FillAsync("#confirm", "a brand new passphrase");
        await laptop.ClickAsync("button >> text=Change password");
        await Expect(laptop.GetByTestId("notice")).ToContainTextAsync("password is changed");
        await Expect(laptop.GetByTestId("audit")).ToContainTextAsync("Password changed");
        await Expect(laptop.GetByTestId("audit")).ToContainTextAsync("Signed in");

        await laptop.GotoAsync("/console/api-keys");
        await Expect(laptop).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await phone.GotoAsync("/console/api-keys");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/sign-in"));

        await ConsoleBrowser.SignInAsync(phone, "heidi@example.com");
        await Expect(phone.GetByTestId("error")).ToContainTextAsync("do not match");
        await ConsoleBrowser.SignInAsync(phone, "heidi@example.com", "a brand new passphrase");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/api-keys$"));
    }

    [Fact]
    public async Task SignOut_EndsTheSession()
    {
        await _gateway.CreateUserAsync(email: "ivy@example.com");
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "ivy@example.com");
        await page.ClickAsync("header >> text=Sign out");
        await Expect(page).ToHaveURLAsync(new Regex("/console/sign-in\\?signedOut=1"));
        await page.GotoAsync("/console/api-keys");
        await Expect(page).ToHaveURLAsync(new Regex("/console/sign-in\\?returnUrl="));
    }

    [Fact]
    public async Task SignIn_NeverFollowsAReturnUrlOffTheConsole()
    {
        await _gateway.CreateUserAsync(email: "leo@example.com");
        var page = await _browser.NewPageAsync();
        await page.GotoAsync("/console/sign-in?returnUrl=" + Uri.EscapeDataString("https://evil.example.com/phish"));
        await page.FillAsync("#email", "leo@example.com");
        await page.FillAsync("#password", ConsoleBrowser.Password);
        await page.ClickAsync("main button[type=submit]");
        await Expect(page).ToHaveURLAsync(new Regex("^" + Regex.Escape(_gateway.Address.ToString()) + "console/api-keys$"));

        await page.GotoAsync("/console/account");
        await Expect(page).ToHaveURLAsync(new Regex("/console/account$"));
    }

    [Fact]
    public async Task SignUp_WithMismatchedOrShortPassword_SaysWhatToFix()
    {
        var page = await _browser.NewPageAsync();
        await page.GotoAsync("/console/sign-up");
        await page.FillAsync("#email", "judy@example.com");
        await page.FillAsync("#password", "longenough123");
        await page.FillAsync("#confirm", "different12345");
        await page.ClickAsync("button >> text=Create account");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("not the same");
        await page.EvaluateAsync("() => document.getElementById('password').removeAttribute('minlength')");
        await page.FillAsync("#password", "short");
        await page.FillAsync("#confirm", "short");
        await page.ClickAsync("button >> text=Create account");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("at least 10 characters");
    }

    [Fact]
    public async Task SessionCookie_IsHttpOnly_SameSiteLax_AndScopedToTheConsole()
    {
        await _gateway.CreateUserAsync(email: "kim@example.com");
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "kim@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
        var session = (await page.Context.CookiesAsync()).Single(c => c.Name == "tokenpool_session");
        Assert.True(session.HttpOnly);
        Assert.Equal(Microsoft.Playwright.SameSiteAttribute.Lax, session.SameSite);
        Assert.Equal("/console", session.Path);
        Assert.Equal(string.Empty, await page.EvaluateAsync<string>("() => document.cookie"));
    }

    [Fact]
    public async Task ConsolePages_CarryProtectiveHeaders_AndScopedHttpOnlyCookies()
    {
        using var client = new HttpClient(new HttpClientHandler { UseCookies = false }) { BaseAddress = _gateway.Address };
        using var response = await client.GetAsync("console/sign-in");
        var antiforgery = Assert.Single(response.Headers.GetValues("Set-Cookie"), c => c.StartsWith("tokenpool_antiforgery=", StringComparison.Ordinal));
        Assert.Contains("httponly", antiforgery, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/console", antiforgery, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.True(response.Headers.CacheControl?.NoStore);
    }

    [Fact]
    public async Task ConsoleRoot_Redirects_AndApiPathsStayJson()
    {
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _gateway.Address };
        using (var root = await client.GetAsync("console"))
        {
            Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
            Assert.Equal("/console/sign-in", root.Headers.Location?.OriginalString);
        }

        using (var keys = await client.GetAsync("console/api-keys"))
        {
            Assert.Equal(HttpStatusCode.Redirect, keys.StatusCode);
            Assert.StartsWith("http", keys.Headers.Location?.ToString() ?? "", StringComparison.Ordinal);
            Assert.Contains("/console/sign-in", keys.Headers.Location?.ToString(), StringComparison.Ordinal);
        }

        foreach (var path in new[] { "v1/models", "models", "v1/console", "v1/no-such-thing" })
        {
            using var response = await client.GetAsync(path);
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
        }
    }
}

/// <summary>A deployment that does not take sign-ups.</summary>
public sealed class ClosedSignUpConsoleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() =>
        _gateway = await TestGateway.StartAsync(options => options.Settings["Accounts:AllowSignUp"] = "false");

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task SignUp_IsRefused_WhenTheOperatorTurnedItOff()
    {
        var cookies = new CookieContainer();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = _gateway.Address };
        var page = await client.GetStringAsync("console/sign-up");
        Assert.Contains("does not take sign-ups", page, StringComparison.Ordinal);
        Assert.DoesNotContain("__RequestVerificationToken", page, StringComparison.Ordinal);
        var token = await ConsoleBrowser.AntiforgeryTokenAsync(client, "console/sign-in");
        using var response = await client.PostAsync("console/sign-up", new FormUrlEncodedContent(
        [
            new("__RequestVerificationToken", token),
            new("email", "mallory@example.com"),
            new("password", "long enough password"),
            new("confirm", "long enough password"),
        ]));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Null(await _gateway.Get<Accounts.AccountService>().FindByEmailAsync("mallory@example.com", CancellationToken.None));
    }
}
