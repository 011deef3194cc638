using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>
/// A headless Debian Chromium driven by Playwright (never a downloaded browser), plus the console steps the
/// tests share: sign up, sign in, screenshots into the test output folder.
/// </summary>
internal sealed partial class ConsoleBrowser : IAsyncDisposable
{
    public const string Password = "correct horse battery staple";

    private readonly IPlaywright _playwright;
    private readonly IBrowser _browser;
    private readonly Uri _address;

    private ConsoleBrowser(IPlaywright playwright, IBrowser browser, Uri address)
    {
        _playwright = playwright;
        _browser = browser;
        _address = address;
    }

    public static string ScreenshotDirectory
    {
        get
        {
            var root = Environment.GetEnvironmentVariable("TOKENPOOL_TEST_OUTPUT");
            var directory = Path.Combine(string.IsNullOrEmpty(root) ? AppContext.BaseDirectory : root, "screenshots");
            Directory.CreateDirectory(directory);
            return directory;
        }
    }

    public static async Task<ConsoleBrowser> LaunchAsync(TestGateway gateway)
    {
        var executable = Environment.GetEnvironmentVariable("TOKENPOOL_TEST_CHROMIUM");
        if (string.IsNullOrEmpty(executable))
        {
            executable = "/usr/bin/chromium";
        }

        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = executable,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            Timeout = 60_000,
        });
        return new ConsoleBrowser(playwright, browser, gateway.Address);
    }

    /// <summary>
    /// A fresh browser profile (its own cookies) that may use the clipboard. <paramref name="host"/> replaces the
    /// address's host (passkeys need a domain name such as <c>localhost</c>, never an IP address).
    /// </summary>
    public async Task<IPage> NewPageAsync(string? host = null, string? userAgent = null)
    {
        var context = await _browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = host is null ? _address.ToString() : new UriBuilder(_address) { Host = host }.Uri.ToString(),
            UserAgent = userAgent,
            Permissions = ["clipboard-read", "clipboard-write"],
            ViewportSize = new ViewportSize { Width = 1200, Height = 900 },
        });
        context.SetDefaultTimeout(20_000);
        var page = await context.NewPageAsync();
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        return page;
    }

    public static async Task SignUpAsync(IPage page, string email)
    {
        await page.GotoAsync("/console/sign-up");
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", Password);
        await page.FillAsync("#confirm", Password);
        await page.ClickAsync("button[type=submit] >> text=Create account");

        // Sign-up never signs in (its answer must not tell whether the email had an account): the owner signs in next.
        // Wait for the redirect itself, not for a load event that a busy machine may deliver before the wait starts.
        await page.WaitForURLAsync(new Regex("/console/sign-in\\?created=1"), new PageWaitForURLOptions { WaitUntil = WaitUntilState.Commit });
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", Password);
        await page.ClickAsync("main button[type=submit]");
        await page.WaitForURLAsync(new Regex("/console/api-keys"), new PageWaitForURLOptions { WaitUntil = WaitUntilState.Commit });
        await page.Locator("h1").First.WaitForAsync();
    }

    public static async Task SignInAsync(IPage page, string email, string password = Password)
    {
        await page.GotoAsync("/console/sign-in");
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("main button[type=submit]");
    }

    /// <summary>Creates a key in the console and returns its id and the full key shown once.</summary>
    public static async Task<(long Id, string Key)> CreateKeyAsync(IPage page, string name, params string[] models)
    {
        await page.GotoAsync("/console/api-keys");
        await page.FillAsync("#name", name);
        foreach (var model in models)
        {
            await page.CheckAsync($"input[name=models][value='{model}']");
        }

        await page.ClickAsync("button >> text=Create key");
        var key = (await page.GetByTestId("key-value").TextContentAsync())!.Trim();
        var href = await page.GetByTestId("new-key").Locator("a").GetAttributeAsync("href");
        return (long.Parse(href!.Split('/')[^1], System.Globalization.CultureInfo.InvariantCulture), key);
    }

    public static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true });

    /// <summary>The session cookies of a signed-in page, for sending console requests by hand.</summary>
    public static async Task<HttpClient> HttpClientWithCookiesOfAsync(IPage page, Uri address)
    {
        var cookies = new CookieContainer();
        foreach (var cookie in await page.Context.CookiesAsync())
        {
            cookies.Add(new System.Net.Cookie(cookie.Name, cookie.Value, cookie.Path, cookie.Domain));
        }

        return new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = address };
    }

    /// <summary>Reads the antiforgery token from a console page's forms.</summary>
    public static async Task<string> AntiforgeryTokenAsync(HttpClient client, string path)
    {
        var html = await client.GetStringAsync(path);
        return TokenField().Match(html).Groups[1].Value;
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();
}
