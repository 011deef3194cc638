using System.Net;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.WebConsole.Pages;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>
/// Everything that sends mail, against a real SMTP server on loopback: password reset by a single-use link, reset
/// requests throttled without telling who has an account, and email verification before keys.
/// </summary>
public sealed class MailConsoleTests : IAsyncLifetime
{
    private SmtpTestServer _smtp = null!;
    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _smtp = await SmtpTestServer.StartAsync();
        _gateway = await TestGateway.StartAsync(options =>
        {
            foreach (var (name, value) in _smtp.Settings)
            {
                options.Settings[name] = value;
            }

            options.Settings["Accounts:RequireVerifiedEmail"] = "true";
        });
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
        await _smtp.DisposeAsync();
    }

    [Fact]
    public async Task ForgotPassword_MailsASingleUseLink_ThatSetsANewPassword_AndSignsOutEverySession()
    {
        await _gateway.CreateUserAsync(email: "rita@example.com");
        var laptop = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(laptop, "rita@example.com");
        await Expect(laptop).ToHaveURLAsync(new Regex("/console/api-keys$"));

        var phone = await _browser.NewPageAsync();
        await phone.GotoAsync("/console/sign-in");
        await phone.GetByTestId("forgot").ClickAsync();
        await phone.FillAsync("#email", "rita@example.com");
        await phone.ClickAsync("button >> text=Send the link");
        await Expect(phone.GetByTestId("notice")).ToHaveTextAsync(ForgotPasswordModel.SentMessage);

        var mail = await _smtp.WaitForAsync("rita@example.com");
        Assert.Equal("Reset your TokenPool password", mail.Subject);
        var link = SmtpTestServer.LinkIn(mail);
        Assert.StartsWith(_gateway.Address + "console/reset-password?token=", link, StringComparison.Ordinal);
        Assert.Contains(WebUtility.HtmlEncode(link), mail.HtmlBody, StringComparison.Ordinal);
        Assert.Contains("30 minutes", mail.TextBody, StringComparison.Ordinal);
        var token = link[(link.IndexOf("token=", StringComparison.Ordinal) + 6)..];

        await phone.GotoAsync(link);
        await phone.FillAsync("#newPassword", "a fresh reset passphrase");
        await phone.FillAsync("#confirm", "a fresh reset passphrase");
        await phone.ClickAsync("button >> text=Set the new password");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/sign-in\\?reset=1"));
        await Expect(phone.GetByTestId("notice")).ToContainTextAsync("every session of your account is signed out");
        await ConsoleBrowser.ScreenshotAsync(phone, "password-reset-done");

        // Every session ended, the link works once, and the new password signs in.
        await laptop.GotoAsync("/console/api-keys");
        await Expect(laptop).ToHaveURLAsync(new Regex("/console/sign-in"));
        await phone.GotoAsync(link);
        await Expect(phone.GetByTestId("error")).ToContainTextAsync("expired or was used already");
        await ConsoleBrowser.SignInAsync(phone, "rita@example.com");
        await Expect(phone.GetByTestId("error")).ToContainTextAsync("do not match");
        await ConsoleBrowser.SignInAsync(phone, "rita@example.com", "a fresh reset passphrase");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await phone.GotoAsync("/console/account");
        await Expect(phone.GetByTestId("audit")).ToContainTextAsync("Password reset link sent");
        await Expect(phone.GetByTestId("audit")).ToContainTextAsync("Password reset by email link");

        // Neither the token nor the new password is in the log; the store has only the token's hash.
        Assert.DoesNotContain(token, _gateway.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain("a fresh reset passphrase", _gateway.Logs.All, StringComparison.Ordinal);
        await using var db = await _gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        Assert.False(await db.AccountTokens.AnyAsync(t => t.TokenHash == token));
    }

    [Fact]
    public async Task AResetLink_StopsWorkingWhenItExpires()
    {
        await _gateway.CreateUserAsync(email: "late@example.com");
        using var forms = new ConsoleForms(_gateway.Address);
        await forms.PostAsync("console/forgot-password", [new("email", "late@example.com")], "192.0.2.150");
        var link = SmtpTestServer.LinkIn(await _smtp.WaitForAsync("late@example.com"));
        await using (var db = await _gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync())
        {
            var account = await db.Accounts.SingleAsync(a => a.NormalizedEmail == "late@example.com");
            var row = await db.AccountTokens.SingleAsync(t => t.AccountId == account.Id);
            Assert.InRange(row.ExpiresAt - row.CreatedAt, TimeSpan.FromMinutes(29.9), TimeSpan.FromMinutes(30.1));
            await db.AccountTokens.Where(t => t.Id == row.Id).ExecuteUpdateAsync(s => s.SetProperty(t => t.ExpiresAt, DateTime.UtcNow.AddSeconds(-1)));
        }

        var page = await forms.Client.GetStringAsync(new Uri(link).PathAndQuery);
        Assert.Contains("expired or was used already", page, StringComparison.Ordinal);
        var token = link[(link.IndexOf("token=", StringComparison.Ordinal) + 6)..];
        var post = await forms.PostAsync(
            "console/forgot-password",
            [new("token", token), new("newPassword", "too late a passphrase"), new("confirm", "too late a passphrase")],
            "192.0.2.150",
            action: "console/reset-password");
        Assert.Contains("expired or was used already", post.Error, StringComparison.Ordinal);
        var accounts = _gateway.Get<Accounts.AccountService>();
        Assert.True(await accounts.CheckPasswordAsync((await accounts.FindByEmailAsync("late@example.com", CancellationToken.None))!, "correct horse battery staple", CancellationToken.None));
    }

    [Fact]
    public async Task AHundredResetRequests_AreRefusedPastTheLimit_WithTheSameMessage_AndTellNothingAboutAccounts()
    {
        await _gateway.CreateUserAsync(email: "flood@example.com");
        using var forms = new ConsoleForms(_gateway.Address);
        var answers = new List<(string Email, FormAnswer Answer)>();
        for (var i = 0; i < 100; i++)
        {
            var email = i % 2 == 0 ? "flood@example.com" : $"nobody-{i}@example.com";
            answers.Add((email, await forms.PostAsync("console/forgot-password", [new("email", email)], "203.0.113.50")));
        }

        // The first five get the same neutral answer, existing account or not; every later one the same refusal.
        Assert.All(answers.Take(5), a => Assert.Equal(ForgotPasswordModel.SentMessage, a.Answer.Notice));
        Assert.All(answers.Skip(5), a => Assert.Equal(HttpStatusCode.TooManyRequests, a.Answer.Status));
        Assert.Single(answers.Skip(5).Select(a => a.Answer.Error).Distinct());
        Assert.StartsWith("Too many reset requests from your address", answers[50].Answer.Error, StringComparison.Ordinal);

        // From a hundred addresses, every answer is the same, and the account's inbox gets at most three mails.
        for (var i = 0; i < 100; i++)
        {
            var answer = await forms.PostAsync("console/forgot-password", [new("email", "flood@example.com")], $"198.51.100.{i + 1}");
            Assert.Equal(ForgotPasswordModel.SentMessage, answer.Notice);
        }

        await _smtp.WaitForAsync("flood@example.com", 3);
        await Task.Delay(1000);
        Assert.Equal(3, _smtp.MessagesTo("flood@example.com").Count);
        Assert.DoesNotContain(_smtp.Messages(), m => m.To.Mailboxes.Any(b => b.Address.StartsWith("nobody-", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task WithVerificationRequired_SignUpMailsALink_KeysWaitForIt_AndATakenEmailGetsTheSameAnswer()
    {
        await _gateway.CreateUserAsync(email: "owner-already@example.com");
        var page = await _browser.NewPageAsync();
        await page.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "192.0.2.160" });
        async Task<string> SignUpAsync(string email)
        {
            await page.GotoAsync("/console/sign-up");
            await page.FillAsync("#email", email);
            await page.FillAsync("#password", ConsoleBrowser.Password);
            await page.FillAsync("#confirm", ConsoleBrowser.Password);
            await page.ClickAsync("button >> text=Create account");
            return (await page.GetByTestId("notice").TextContentAsync())!;
        }

        var fresh = await SignUpAsync("vera@example.com");
        var taken = await SignUpAsync("owner-already@example.com");
        Assert.Contains("Check your inbox", fresh, StringComparison.Ordinal);
        Assert.Equal(fresh.Replace("vera@example.com", "X", StringComparison.Ordinal), taken.Replace("owner-already@example.com", "X", StringComparison.Ordinal));
        var warning = await _smtp.WaitForAsync("owner-already@example.com");
        Assert.Contains("already has one", warning.TextBody, StringComparison.Ordinal);
        var welcome = await _smtp.WaitForAsync("vera@example.com");
        Assert.Equal("Confirm your email for TokenPool", welcome.Subject);

        // Vera can sign in, but not create keys until she confirms; she can ask for a new link.
        await ConsoleBrowser.SignInAsync(page, "vera@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await Expect(page.GetByTestId("verify-email")).ToContainTextAsync("Confirm your email to create API keys");
        await page.FillAsync("#name", "laptop");
        await page.ClickAsync("button >> text=Create key");
        await Expect(page.GetByTestId("error")).ToContainTextAsync("Confirm your email before creating API keys");
        await ConsoleBrowser.ScreenshotAsync(page, "verify-email-before-keys");
        await page.GetByTestId("resend-verification").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("We sent a new confirmation link");
        var second = await _smtp.WaitForAsync("vera@example.com", 2);

        await page.GotoAsync(SmtpTestServer.LinkIn(second));
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("Your email is confirmed");
        var (id, key) = await ConsoleBrowser.CreateKeyAsync(page, "laptop");
        Assert.True(id > 0);
        Assert.StartsWith("sk-tp-", key, StringComparison.Ordinal);
        await page.GotoAsync("/console/account");
        await Expect(page.GetByTestId("audit")).ToContainTextAsync("Email confirmed");
    }
}
