using System.Text.RegularExpressions;
using Microsoft.Playwright;
using TokenPool.IntegrationTests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>
/// Passkeys in a real Chromium with its virtual authenticator (DevTools' WebAuthn domain): add one or more, name
/// and remove them, sign in with a passkey alone. Pages use <c>localhost</c>: a passkey needs a domain name.
/// </summary>
public sealed class PasskeyConsoleTests : IAsyncLifetime
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
    public async Task PasskeysAreAddedNamedAndRemoved_AndOneSignsInAlone()
    {
        await _gateway.CreateUserAsync(email: "pat@example.com");
        var laptop = await PageWithAuthenticatorAsync();
        await ConsoleBrowser.SignInAsync(laptop, "pat@example.com");
        await Expect(laptop).ToHaveURLAsync(new Regex("/console/api-keys$"));

        // Adding a passkey needs the password.
        await laptop.GotoAsync("/console/account");
        await laptop.FillAsync("#passkey-new-name", "Laptop");
        await laptop.FillAsync("#passkey-password", "not my password");
        await laptop.GetByTestId("add-passkey").ClickAsync();
        await Expect(laptop.GetByTestId("passkey-error")).ToContainTextAsync("password is not right");
        await laptop.FillAsync("#passkey-password", ConsoleBrowser.Password);
        await laptop.GetByTestId("add-passkey").ClickAsync();
        await Expect(laptop.GetByTestId("notice")).ToContainTextAsync("The passkey is added");
        await Expect(laptop.GetByTestId("passkey")).ToHaveCountAsync(1);
        await Expect(laptop.GetByTestId("passkey-name")).ToHaveValueAsync("Laptop");

        // A second device adds its own.
        var phone = await PageWithAuthenticatorAsync();
        await ConsoleBrowser.SignInAsync(phone, "pat@example.com");
        await phone.GotoAsync("/console/account");
        await phone.FillAsync("#passkey-new-name", "Phone");
        await phone.FillAsync("#passkey-password", ConsoleBrowser.Password);
        await phone.GetByTestId("add-passkey").ClickAsync();
        await Expect(phone.GetByTestId("passkey")).ToHaveCountAsync(2);

        await laptop.GotoAsync("/console/account");
        await laptop.GetByTestId("passkey-name").First.FillAsync("Work laptop");
        await laptop.GetByTestId("rename-passkey").First.ClickAsync();
        await Expect(laptop.GetByTestId("notice")).ToContainTextAsync("renamed");
        await Expect(laptop.GetByTestId("passkey-name").First).ToHaveValueAsync("Work laptop");
        await ConsoleBrowser.ScreenshotAsync(laptop, "account-passkeys");

        // Signing in with a passkey alone: no email, no password.
        await laptop.ClickAsync("header >> text=Sign out");
        await laptop.GetByTestId("passkey-sign-in").ClickAsync();
        await Expect(laptop).ToHaveURLAsync(new Regex("/console/api-keys$"));
        await laptop.GotoAsync("/console/account");
        await Expect(laptop.Locator("[data-testid=session][data-current=true]")).ToContainTextAsync("passkey");
        var audit = laptop.GetByTestId("audit");
        await Expect(audit).ToContainTextAsync("Passkey added");
        await Expect(audit).ToContainTextAsync("Passkey renamed");
        await Expect(audit).ToContainTextAsync("passkey");

        // Once removed, the phone's passkey no longer signs in.
        await laptop.Locator("[data-testid=passkey]", new() { HasText = "" }).Nth(1).GetByTestId("remove-passkey").ClickAsync();
        await Expect(laptop.GetByTestId("passkey")).ToHaveCountAsync(1);
        await Expect(audit).ToContainTextAsync("Passkey removed");
        await phone.ClickAsync("header >> text=Sign out");
        await phone.GetByTestId("passkey-sign-in").ClickAsync();
        await Expect(phone.GetByTestId("passkey-error")).ToContainTextAsync("did not sign you in");
        await Expect(phone).ToHaveURLAsync(new Regex("/console/sign-in"));
    }

    private async Task<IPage> PageWithAuthenticatorAsync()
    {
        var page = await _browser.NewPageAsync(host: "localhost");
        var devtools = await page.Context.NewCDPSessionAsync(page);
        await devtools.SendAsync("WebAuthn.enable");
        await devtools.SendAsync("WebAuthn.addVirtualAuthenticator", new Dictionary<string, object>
        {
            ["options"] = new Dictionary<string, object>
            {
                ["protocol"] = "ctap2",
                ["transport"] = "internal",
                ["hasResidentKey"] = true,
                ["hasUserVerification"] = true,
                ["isUserVerified"] = true,
                ["automaticPresenceSimulation"] = true,
            },
        });
        return page;
    }
}
