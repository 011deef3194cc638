using System.Net;
using System.Text.RegularExpressions;
using TokenPool.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>Sign-up: throttled per client address and per network, and its answer never tells whether an email has an account.</summary>
public sealed class SignUpConsoleTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(options =>
        {
            options.Settings["Accounts:MaxSignUpsPerAddress"] = "2";
            options.Settings["Accounts:MaxSignUpsPerNetwork"] = "3";
            options.Settings["Accounts:StartingCreditUsd"] = "1";
        });
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task SigningUp_WithATakenEmail_AnswersExactlyAsWithAFreeOne()
    {
        await _gateway.CreateUserAsync(email: "taken@example.com");
        using var forms = new ConsoleForms(_gateway.Address);
        var taken = await forms.PostAsync("console/sign-up", Fields("taken@example.com"), "192.0.2.101");
        var free = await forms.PostAsync("console/sign-up", Fields("free@example.com"), "192.0.2.102");
        Assert.Equal(HttpStatusCode.Redirect, free.Status);
        Assert.Equal(free.Status, taken.Status);
        Assert.Equal(free.Location, taken.Location);
        Assert.Equal("/console/sign-in?created=1", free.Location);

        // The existing owner's password is unchanged, and the new account works with its own.
        var accounts = _gateway.Get<Accounts.AccountService>();
        var owner = await accounts.FindByEmailAsync("taken@example.com", CancellationToken.None);
        Assert.True(await accounts.CheckPasswordAsync(owner!, "correct horse battery staple", CancellationToken.None));

        // In the browser: the new owner is sent to sign in, and gets in.
        var page = await _browser.NewPageAsync();
        await page.SetExtraHTTPHeadersAsync(new Dictionary<string, string> { ["X-Forwarded-For"] = "192.0.2.103" });
        await ConsoleBrowser.SignUpAsync(page, "newcomer@example.com");
        await Expect(page).ToHaveURLAsync(new Regex("/console/api-keys\\?welcome=1$"));
        await Expect(page.Locator("main")).ToContainTextAsync("Welcome! Your balance is $1.00");
        await Expect(page.GetByTestId("balance")).ToContainTextAsync("$1.00");
    }

    [Fact]
    public async Task SignUps_AreThrottledPerAddress_AndPerNetwork()
    {
        using var forms = new ConsoleForms(_gateway.Address);
        Assert.Equal(HttpStatusCode.Redirect, (await forms.PostAsync("console/sign-up", Fields("a1@example.com"), "203.0.113.1")).Status);
        Assert.Equal(HttpStatusCode.Redirect, (await forms.PostAsync("console/sign-up", Fields("a2@example.com"), "203.0.113.1")).Status);
        var third = await forms.PostAsync("console/sign-up", Fields("a3@example.com"), "203.0.113.1");
        Assert.Equal(HttpStatusCode.TooManyRequests, third.Status);
        Assert.Contains("Too many accounts were created from your network", third.Error, StringComparison.Ordinal);

        // A neighbour in the same /24 gets the network's last free sign-up, then the network waits too.
        Assert.Equal(HttpStatusCode.Redirect, (await forms.PostAsync("console/sign-up", Fields("b1@example.com"), "203.0.113.2")).Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await forms.PostAsync("console/sign-up", Fields("b2@example.com"), "203.0.113.3")).Status);

        // IPv6: one /64 is one network.
        Assert.Equal(HttpStatusCode.Redirect, (await forms.PostAsync("console/sign-up", Fields("c1@example.com"), "2001:db8:5:6::1")).Status);
        Assert.Equal(HttpStatusCode.Redirect, (await forms.PostAsync("console/sign-up", Fields("c2@example.com"), "2001:db8:5:6::2")).Status);
        Assert.Equal(HttpStatusCode.Redirect, (await forms.PostAsync("console/sign-up", Fields("c3@example.com"), "2001:db8:5:6:ffff::3")).Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await forms.PostAsync("console/sign-up", Fields("c4@example.com"), "2001:db8:5:6::4")).Status);

        // Elsewhere, sign-up still works; the refused ones made no account.
        Assert.Equal(HttpStatusCode.Redirect, (await forms.PostAsync("console/sign-up", Fields("d1@example.com"), "198.51.100.9")).Status);
        var accounts = _gateway.Get<Accounts.AccountService>();
        Assert.Null(await accounts.FindByEmailAsync("a3@example.com", CancellationToken.None));
        Assert.Null(await accounts.FindByEmailAsync("c4@example.com", CancellationToken.None));
    }

    private static KeyValuePair<string, string>[] Fields(string email) =>
        [new("email", email), new("password", "a long enough password"), new("confirm", "a long enough password")];
}
