using Microsoft.Playwright;
using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Docs;

/// <summary>The docs in a real browser (Debian's Chromium): every code block gets a Copy button that copies it.</summary>
public sealed class DocsBrowserTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _playwright = await Playwright.CreateAsync();
        var chromium = Environment.GetEnvironmentVariable("TOKENPOOL_TEST_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = chromium, Args = ["--no-sandbox"] });
    }

    public async Task DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task CopyButton_CopiesTheCodexConfigSnippet()
    {
        var origin = _gateway.Address.ToString().TrimEnd('/');
        await using var context = await _browser.NewContextAsync();
        await context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"], new() { Origin = origin });
        var page = await context.NewPageAsync();

        await page.GotoAsync(origin + "/docs/codex-cli");
        var blocks = await page.Locator("pre").CountAsync();
        var buttons = await page.Locator("pre button.copy").CountAsync();
        var tomlBlock = page.Locator("pre", new() { Has = page.Locator("code.language-toml") }).First;
        await tomlBlock.Locator("button.copy").ClickAsync();
        var copied = await page.EvaluateAsync<string>("() => navigator.clipboard.readText()");

        Assert.True(blocks >= 3);
        Assert.Equal(blocks, buttons);
        Assert.Equal("Copied", await tomlBlock.Locator("button.copy").TextContentAsync());
        var expected = new ClientSetup(origin, ClientSetup.KeyPlaceholder, "gpt-5.5", "gpt-5.4-nano").CodexConfigToml();
        Assert.Equal(expected.Trim(), copied.Trim());
    }

    [Fact]
    public async Task SearchBox_LeadsToTheMatchingSection()
    {
        var origin = _gateway.Address.ToString().TrimEnd('/');
        var page = await _browser.NewPageAsync();

        await page.GotoAsync(origin + "/docs");
        await page.FillAsync("input[name=q]", "auth.json config.toml");
        await page.PressAsync("input[name=q]", "Enter");
        await Microsoft.Playwright.Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/docs/search\\?q="));
        await page.Locator("ol.results a").First.ClickAsync();

        await Microsoft.Playwright.Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/docs/[^?]+#"));
    }
}
