using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using TokenPool.Accounts;
using TokenPool.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>Two-factor sign-in with an authenticator app: set-up, sign-in, recovery codes, key reveal, turning off, the admin policy, throttling.</summary>
public sealed class TwoFactorConsoleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(options =>
        {
            options.Settings["Console:MaxWrongCodesPerAccount"] = "5";
            options.Settings["Console:ThrottleFirstDelaySeconds"] = "600";
            options.Settings["Console:RecentPasswordSeconds"] = "1";
        });
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task SetUpWithAQrCode_ThenSignInAsksForACode_CodesWorkOnce_AndRecoveryCodesWorkOnce()
    {
        await _gateway.CreateUserAsync(email: "tina@example.com");
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "tina@example.com");
        await page.GotoAsync("/console/account");
        await Expect(page.GetByTestId("two-factor-status")).ToContainTextAsync("off");
        await page.GetByTestId("manage-two-factor").ClickAsync();
        Assert.StartsWith("data:image/png;base64,", await page.GetByTestId("qr").GetAttributeAsync("src"), StringComparison.Ordinal);
        var app = new AuthenticatorApp((await page.GetByTestId("totp-secret").TextContentAsync())!.Trim());
        await ConsoleBrowser.ScreenshotAsync(page, "two-factor-set-up");

        await page.FillAsync("#code", "123456");
        await page.FillAsync("#password", ConsoleBrowser.Password);
        await page.GetByTestId("enable-two-factor").ClickAsync();
        await Expect(page.GetByTestId("error")).ToContainTextAsync("code is not right");

        // The page showed a new secret after the failure; the app scans it again.
        app = new AuthenticatorApp((await page.GetByTestId("totp-secret").TextContentAsync())!.Trim());
        await page.FillAsync("#code", await app.NextCodeAsync());
        await page.FillAsync("#password", ConsoleBrowser.Password);
        await page.GetByTestId("enable-two-factor").ClickAsync();
        var shown = await page.GetByTestId("recovery-code").AllTextContentsAsync();
        Assert.Equal(10, shown.Count);
        Assert.Equal(10, shown.Distinct().Count());
        await ConsoleBrowser.ScreenshotAsync(page, "two-factor-recovery-codes");

        // Signing in now asks for a code after the password.
        await page.ClickAsync("header >> text=Sign out");
        await ConsoleBrowser.SignInAsync(page, "tina@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/sign-in/code$"));
        await page.FillAsync("#code", "000000");
        await page.ClickAsync("main button[type=submit]");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("not right");
        await page.FillAsync("#code", await app.NextCodeAsync());
        await page.ClickAsync("main button[type=submit]");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));

        // The same code cannot be used again (a code seen over someone's shoulder is spent).
        var used = app.LastCode;
        var other = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(other, "tina@example.com");
        await other.FillAsync("#code", used);
        await other.ClickAsync("main button[type=submit]");
        await Expect(other.GetByTestId("error")).ToContainTextAsync("used already");

        // A recovery code signs in once.
        await other.GetByTestId("use-recovery").ClickAsync();
        await other.FillAsync("#code", shown[0].ToUpperInvariant());
        await other.ClickAsync("main button[type=submit]");
        await Expect(other).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await other.ClickAsync("header >> text=Sign out");
        await ConsoleBrowser.SignInAsync(other, "tina@example.com");
        await other.GotoAsync("/console/sign-in/code?recovery=true");
        await other.FillAsync("#code", shown[0]);
        await other.ClickAsync("main button[type=submit]");
        await Expect(other.GetByTestId("error")).ToContainTextAsync("recovery code is not right");

        await page.GotoAsync("/console/account");
        await Expect(page.GetByTestId("two-factor-status")).ToContainTextAsync("Recovery codes left: 9 of 10");
        var audit = page.GetByTestId("audit");
        await Expect(audit).ToContainTextAsync("Two-factor sign-in turned on");
        await Expect(audit).ToContainTextAsync("Recovery code used");
        await Expect(audit).ToContainTextAsync("password and authenticator code");

        // Nothing secret reached the log.
        var log = _gateway.Logs.All;
        Assert.DoesNotContain(app.Secret, log, StringComparison.Ordinal);
        Assert.All(shown, code => Assert.DoesNotContain(code, log, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RevealingAKey_AndTurningTwoFactorOff_AskForThePasswordAndACode()
    {
        var (account, app, _) = await AccountWithTwoFactorAsync("ursula@example.com");
        var page = await _browser.NewPageAsync();
        await SignInWithCodeAsync(page, account.Email, app);
        var (id, _) = await ConsoleBrowser.CreateKeyAsync(page, "laptop");
        await Task.Delay(1500);

        await page.GotoAsync($"/console/api-keys/{id}");
        await page.GetByTestId("reveal").ClickAsync();
        await Expect(page.GetByTestId("second-factor-code")).ToBeVisibleAsync();
        await page.FillAsync("#password", ConsoleBrowser.Password);
        await page.FillAsync("#second-factor-code", "111111");
        await page.GetByTestId("confirm-password").ClickAsync();
        await Expect(page.GetByTestId("password-error")).ToContainTextAsync("not right");
        await Expect(page.GetByTestId("revealed")).ToHaveCountAsync(0);
        await page.FillAsync("#password", ConsoleBrowser.Password);
        await page.FillAsync("#second-factor-code", await app.NextCodeAsync());
        await page.GetByTestId("confirm-password").ClickAsync();
        await Expect(page.GetByTestId("key-value")).ToContainTextAsync("sk-tp-");

        await page.GotoAsync("/console/account/two-factor");
        await page.FillAsync("#disable-password", ConsoleBrowser.Password);
        await page.FillAsync("#disable-code", "222222");
        await page.GetByTestId("disable-two-factor").ClickAsync();
        await Expect(page.GetByTestId("error")).ToContainTextAsync("not right");
        await page.FillAsync("#disable-password", ConsoleBrowser.Password);
        await page.FillAsync("#disable-code", await app.NextCodeAsync());
        await page.GetByTestId("disable-two-factor").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Two-factor sign-in is off");
        await Expect(page.GetByTestId("audit")).ToContainTextAsync("Two-factor sign-in turned off");
    }

    [Fact]
    public async Task AnAdminCanRequireTwoFactorForAdmins_AndAnAdminWithoutItIsSentToSetItUp()
    {
        await _gateway.CreateUserAsync(email: "root@example.com", role: AccountRole.Admin);
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "root@example.com");
        await page.GotoAsync("/console/admin/security");
        await page.GetByTestId("require-two-factor").CheckAsync();
        await page.GetByTestId("save-policy").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Admins must now sign in with two factors");

        await page.GotoAsync("/console/admin/users");
        await Expect(page).ToHaveURLAsync(new Regex("/console/account/two-factor\\?required=1$"));
        await Expect(page.GetByTestId("required")).ToBeVisibleAsync();
        await ConsoleBrowser.ScreenshotAsync(page, "two-factor-required-for-admins");
        var app = new AuthenticatorApp((await page.GetByTestId("totp-secret").TextContentAsync())!.Trim());
        await page.FillAsync("#code", await app.NextCodeAsync());
        await page.FillAsync("#password", ConsoleBrowser.Password);
        await page.GetByTestId("enable-two-factor").ClickAsync();
        await Expect(page.GetByTestId("recovery-codes")).ToBeVisibleAsync();
        await page.GotoAsync("/console/admin/users");
        await Expect(page).ToHaveURLAsync(new Regex("/console/admin/users$"));

        // While the policy holds, an admin cannot turn two-factor sign-in off; a plain user is not affected.
        await page.GotoAsync("/console/account/two-factor");
        await page.FillAsync("#disable-password", ConsoleBrowser.Password);
        await page.FillAsync("#disable-code", await app.NextCodeAsync());
        await page.GetByTestId("disable-two-factor").ClickAsync();
        await Expect(page.GetByTestId("error")).ToContainTextAsync("Admins must keep two-factor sign-in on");
        await _gateway.CreateUserAsync(email: "plain@example.com");
        var user = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(user, "plain@example.com");
        await user.GotoAsync("/console/usage");
        await Expect(user).ToHaveURLAsync(new Regex("/console/usage$"));
        await _gateway.Get<SecurityPolicies>().SetRequireTwoFactorForAdminsAsync(false, 1, null, CancellationToken.None);
    }

    [Fact]
    public async Task AHundredWrongCodes_AndAHundredWrongRecoveryCodes_AreRefusedPastTheLimit_WithTheSameMessage()
    {
        var messages = new List<string?>();
        for (var who = 0; who < 3; who++)
        {
            var recovery = who == 2;
            var (account, app, recoveryCodes) = await AccountWithTwoFactorAsync($"guessed-{who}@example.com");
            using var forms = new ConsoleForms(_gateway.Address);
            var address = $"203.0.113.{120 + who}";
            var signIn = await forms.PostAsync("console/sign-in", [new("email", account.Email), new("password", ConsoleBrowser.Password)], address);
            Assert.Equal("/console/sign-in/code", signIn.Location);
            var answers = new List<FormAnswer>();
            for (var i = 0; i < 100; i++)
            {
                var wrong = recovery ? $"wrong-{i:D5}" : (100000 + (i * 7919)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                answers.Add(await forms.PostAsync("console/sign-in/code", [new("code", wrong), new("recovery", recovery ? "true" : "false")], address));
            }

            // Five codes are checked; the fifth wrong one pauses codes, and says so, as every later attempt does.
            Assert.All(answers.Take(4), a => Assert.Equal(HttpStatusCode.OK, a.Status));
            Assert.All(answers.Take(4), a => Assert.Contains("not right", a.Error, StringComparison.Ordinal));
            Assert.All(answers.Skip(4), a => Assert.Equal(HttpStatusCode.TooManyRequests, a.Status));
            messages.AddRange(answers.Skip(4).Select(a => a.Error));

            // Past the limit, even the right code waits: the limit is what stops guessing, not luck.
            var right = await forms.PostAsync("console/sign-in/code", [new("code", recovery ? recoveryCodes[0] : await app.NextCodeAsync()), new("recovery", recovery ? "true" : "false")], address);
            Assert.Equal(HttpStatusCode.TooManyRequests, right.Status);
        }

        Assert.Single(messages.Distinct());
        Assert.StartsWith("Too many wrong codes", messages[0], StringComparison.Ordinal);
    }

    private async Task<(Account Account, AuthenticatorApp App, IReadOnlyList<string> RecoveryCodes)> AccountWithTwoFactorAsync(string email)
    {
        var account = await _gateway.CreateUserAsync(email: email);
        var twoFactor = _gateway.Get<TwoFactor>();
        var enrolment = twoFactor.Begin(account);
        var app = new AuthenticatorApp(enrolment.Secret);
        var codes = await twoFactor.EnableAsync(account.Id, enrolment.Secret, await app.NextCodeAsync(), null, CancellationToken.None);
        Assert.NotNull(codes);
        return (account, app, codes);
    }

    private static async Task SignInWithCodeAsync(IPage page, string email, AuthenticatorApp app)
    {
        await ConsoleBrowser.SignInAsync(page, email);
        await Expect(page).ToHaveURLAsync(new Regex("/console/sign-in/code$"));
        await page.FillAsync("#code", await app.NextCodeAsync());
        await page.ClickAsync("main button[type=submit]");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
    }
}
