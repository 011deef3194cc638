using System.Net;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>Server-side console sessions: a copied cookie dies with its session, and the Account page lists and ends sessions.</summary>
public sealed class SessionConsoleTests : IAsyncLifetime
{
    private const string PhoneUserAgent =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";

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
    public async Task AStolenCookie_ReplayedAfterSignOut_IsRefused()
    {
        await _gateway.CreateUserAsync(email: "stolen@example.com");
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "stolen@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
        using var thief = await ConsoleBrowser.HttpClientWithCookiesOfAsync(page, _gateway.Address);
        using (var before = await thief.GetAsync("console/account"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        var cookie = (await page.Context.CookiesAsync()).Single(c => c.Name == "tokenpool_session").Value;
        await page.ClickAsync("header >> text=Sign out");
        await Expect(page).ToHaveURLAsync(new Regex("/console/sign-in\\?signedOut=1"));
        Assert.DoesNotContain(cookie, _gateway.Logs.All, StringComparison.Ordinal);

        using var after = await thief.GetAsync("console/account");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.Contains("/console/sign-in", after.Headers.Location?.ToString(), StringComparison.Ordinal);

        // The store never had the session's token, only its hash, and the row is gone.
        await using var db = await _gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        var account = await db.Accounts.SingleAsync(a => a.NormalizedEmail == "stolen@example.com");
        Assert.Empty(await db.Sessions.Where(s => s.AccountId == account.Id).ToListAsync());
        Assert.Contains(Accounts.AuditKinds.SignedOut, await db.AuditEvents.Where(e => e.AccountId == account.Id).Select(e => e.Kind).ToListAsync());
    }

    [Fact]
    public async Task AccountPage_ListsEachSignedInBrowser_AndSignsOutAnyOfThem_AtOnce()
    {
        await _gateway.CreateUserAsync(email: "many@example.com");
        var laptop = await _browser.NewPageAsync();
        var phone = await _browser.NewPageAsync(userAgent: PhoneUserAgent);
        await phone.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "198.51.100.77" });
        await ConsoleBrowser.SignInAsync(laptop, "many@example.com");
        await Expect(laptop).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await ConsoleBrowser.SignInAsync(phone, "many@example.com");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/api-keys$"));

        await laptop.GotoAsync("/console/account");
        var sessions = laptop.GetByTestId("session");
        await Expect(sessions).ToHaveCountAsync(2);
        await Expect(laptop.Locator("[data-testid=session][data-current=true]")).ToContainTextAsync("this session");
        var phoneRow = laptop.Locator("[data-testid=session][data-current=false]");
        await Expect(phoneRow).ToContainTextAsync("Safari on iOS");
        await Expect(phoneRow).ToContainTextAsync("198.51.100.77");
        await ConsoleBrowser.ScreenshotAsync(laptop, "account-sessions");

        // Signing the phone out from the laptop ends it on the phone's very next request.
        await phoneRow.GetByTestId("end-session").ClickAsync();
        await Expect(laptop.GetByTestId("notice")).ToContainTextAsync("signed out");
        await Expect(laptop.GetByTestId("session")).ToHaveCountAsync(1);
        await phone.GotoAsync("/console/api-keys");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/sign-in"));

        // "Sign out all other sessions" keeps this one.
        await ConsoleBrowser.SignInAsync(phone, "many@example.com");
        var tablet = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(tablet, "many@example.com");
        await Expect(tablet).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await laptop.GotoAsync("/console/account");
        await laptop.GetByTestId("end-others").ClickAsync();
        await Expect(laptop.GetByTestId("notice")).ToContainTextAsync("2 other sessions are signed out");
        await phone.GotoAsync("/console/api-keys");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/sign-in"));
        await tablet.GotoAsync("/console/api-keys");
        await Expect(tablet).ToHaveURLAsync(new Regex("/console/sign-in"));
        await laptop.GotoAsync("/console/api-keys");
        await Expect(laptop).ToHaveURLAsync(new Regex("/console/api-keys$"));

        // "Sign out everywhere" ends this one too.
        using var copy = await ConsoleBrowser.HttpClientWithCookiesOfAsync(laptop, _gateway.Address);
        await laptop.GotoAsync("/console/account");
        await laptop.GetByTestId("end-all").ClickAsync();
        await Expect(laptop).ToHaveURLAsync(new Regex("/console/sign-in\\?signedOut=1"));
        using (var refused = await copy.GetAsync("console/api-keys"))
        {
            Assert.Equal(HttpStatusCode.Redirect, refused.StatusCode);
        }

        await ConsoleBrowser.SignInAsync(laptop, "many@example.com");
        await laptop.GotoAsync("/console/account");
        var audit = laptop.GetByTestId("audit");
        await Expect(audit).ToContainTextAsync("Session signed out");
        await Expect(audit).ToContainTextAsync("Other sessions signed out");
        await Expect(audit).ToContainTextAsync("Signed out everywhere");
    }

    [Fact]
    public async Task DisablingTheAccount_OrTheOperatorSettingAPassword_EndsItsSessionsAtOnce()
    {
        var account = await _gateway.CreateUserAsync(email: "ended@example.com");
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "ended@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
        using (var copy = await ConsoleBrowser.HttpClientWithCookiesOfAsync(page, _gateway.Address))
        {
            await _gateway.Get<Accounts.AccountService>().SetDisabledAsync(account.Id, true, null, CancellationToken.None);
            await _gateway.Get<Accounts.AccountService>().SetDisabledAsync(account.Id, false, null, CancellationToken.None);
            using var refused = await copy.GetAsync("console/api-keys");
            Assert.Equal(HttpStatusCode.Redirect, refused.StatusCode);
        }

        // Without mail, the operator resets a password with the CLI; it signs out every session.
        await ConsoleBrowser.SignInAsync(page, "ended@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
        using var again = await ConsoleBrowser.HttpClientWithCookiesOfAsync(page, _gateway.Address);
        var run = await ServerProcess.CliAsync(_gateway.DataDirectory, "user", "password", "--email", "ended@example.com", "--password", "an operator's new passphrase");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("signed out", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("an operator's new passphrase", run.Stdout + run.Stderr, StringComparison.Ordinal);
        using (var refused = await again.GetAsync("console/api-keys"))
        {
            Assert.Equal(HttpStatusCode.Redirect, refused.StatusCode);
        }

        await ConsoleBrowser.SignInAsync(page, "ended@example.com", "an operator's new passphrase");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await page.GotoAsync("/console/account");
        await Expect(page.GetByTestId("audit")).ToContainTextAsync("Password set by the operator");
    }

    [Fact]
    public async Task WithoutMail_ForgotPassword_SaysSoAndPointsToTheOperator()
    {
        var page = await _browser.NewPageAsync();
        await page.GotoAsync("/console/sign-in");
        await page.GetByTestId("forgot").ClickAsync();
        await Expect(page.GetByTestId("unavailable")).ToContainTextAsync("no mail server configured");
        await Expect(page.GetByTestId("unavailable")).ToContainTextAsync("tokenpool user password");
    }
}

/// <summary>Someone else's wrong passwords delay the owner on a new browser only boundedly.</summary>
public sealed class SignInDelayConsoleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(options =>
        {
            options.Settings["Console:MaxWrongPasswordsPerAccount"] = "3";
            options.Settings["Console:ThrottleFirstDelaySeconds"] = "1";
            options.Settings["Console:MaxAccountDelaySeconds"] = "4";
        });
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task HundredsOfWrongPasswordsFromManyAddresses_DelayTheOwnerOnANewBrowser_OnlyUpToTheLongestWait()
    {
        await _gateway.CreateUserAsync(email: "paul@example.com");
        var session = _gateway.Get<TokenPool.WebConsole.ConsoleSession>();
        var throttle = _gateway.Get<TokenPool.WebConsole.SignInThrottle>();

        // Guesses from many addresses, each fresh: only the account's count grows. A few go through the sign-in
        // check; the rest of a long, patient campaign (each guess waiting its turn) is counted directly.
        for (var i = 0; i < 3; i++)
        {
            var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
            context.Connection.RemoteIpAddress = IPAddress.Parse($"203.0.113.{i + 1}");
            Assert.Null((await session.CheckAsync("paul@example.com", $"guess {i}", context, CancellationToken.None)).Account);
        }

        for (var i = 0; i < 200; i++)
        {
            throttle.Record(throttle.PasswordsForAccount, "paul@example.com");
        }

        var owner = await _browser.NewPageAsync();
        await owner.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "198.51.100.5" });
        var started = DateTime.UtcNow;
        await ConsoleBrowser.SignInAsync(owner, "paul@example.com");
        if (!Regex.IsMatch(owner.Url, "/console/api-keys$"))
        {
            var message = await owner.GetByTestId("error").TextContentAsync() ?? "";
            Assert.Contains("Too many wrong passwords", message, StringComparison.Ordinal);
            var seconds = int.Parse(Regex.Match(message, @"in (\d+) seconds|in a (second)") is { Success: true } m && m.Groups[1].Success ? m.Groups[1].Value : "1", System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(seconds, 1, 4);
            await Task.Delay(TimeSpan.FromSeconds(seconds + 0.5));
            await ConsoleBrowser.SignInAsync(owner, "paul@example.com");
        }

        await Expect(owner).ToHaveURLAsync(new Regex("/console/api-keys$"));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(30));
    }
}
