using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using TokenPool.Accounts;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;
using static Microsoft.Playwright.Assertions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>
/// Issue 5, health on the admin pages, in a real Chromium: real requests through the gateway to four
/// simulated channels (one failing with 500s, one rate-limited with Retry-After, one whose key the upstream
/// rejects, one healthy), then the pages show each key's state, error rate, latency and recent errors.
/// </summary>
public sealed partial class ChannelHealthConsoleTests : IAsyncLifetime
{
    private const int BreakerFailures = 2;
    private const int RetryAfterSeconds = 120;
    private const int Requests = 5;

    private TestGateway _gateway = null!;
    private ConsoleBrowser _browser = null!;
    private HttpClient _client = null!;

    private SimulatorHost Failing => _gateway.Upstreams[0];

    private SimulatorHost RateLimited => _gateway.Upstreams[1];

    private SimulatorHost Rejecting => _gateway.Upstreams[2];

    private SimulatorHost Healthy => _gateway.Upstreams[3];

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { Priority = 30 });
            o.ChannelList.Add(new TestChannel { Priority = 20 });
            o.ChannelList.Add(new TestChannel { Priority = 10 });
            o.ChannelList.Add(new TestChannel { Priority = 0 });
            o.Settings["Upstreams:BreakerWindow"] = "4";
            o.Settings["Upstreams:BreakerFailures"] = BreakerFailures.ToString(CultureInfo.InvariantCulture);
            o.Settings["Upstreams:BreakerOpenSeconds"] = "600";
            o.Settings["Upstreams:BreakerMaxOpenSeconds"] = "600";
        });
        _browser = await ConsoleBrowser.LaunchAsync(_gateway);
        _client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync(10m));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _browser.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task AdminSeesEachKeysState_ErrorRate_LatencyAndRecentErrors_AndCanResetOrEnableIt()
    {
        Failing.ForcedFaults = SimulatorFaults.Parse("status=500");
        RateLimited.ForcedFaults = SimulatorFaults.Parse($"status=429 retry_after={RetryAfterSeconds}");
        Rejecting.ForcedFaults = SimulatorFaults.Parse("status=401 code=invalid_api_key");
        var before = DateTime.UtcNow;
        for (var i = 0; i < Requests; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusOfRequestAsync());
        }

        var after = DateTime.UtcNow;

        // What the upstreams saw decides what the page must show.
        var failed = (int)Failing.TotalRequests;
        Assert.Equal(BreakerFailures, failed);
        Assert.Equal(1, RateLimited.TotalRequests);
        Assert.Equal(1, Rejecting.TotalRequests);
        Assert.Equal(Requests, Healthy.TotalRequests);

        await _gateway.CreateUserAsync(email: "ops@example.com", role: AccountRole.Admin);
        var page = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(page, "ops@example.com");

        // The list: every channel's state and each key's state, with its reason or its end time.
        await page.GotoAsync("/console/admin/channels");
        await Expect(ChannelRow(page, 0).GetByTestId("channel-state")).ToHaveTextAsync("unavailable");
        await Expect(ChannelRow(page, 0).GetByTestId("key-state")).ToHaveTextAsync("circuit open");
        await Expect(ChannelRow(page, 0).GetByTestId("channel-error-rate")).ToHaveTextAsync($"100% ({failed} of {failed} failed)");
        await Expect(ChannelRow(page, 0).GetByTestId("channel-last-error")).ToContainTextAsync("500 Internal Server Error");
        await Expect(ChannelRow(page, 1).GetByTestId("key-state")).ToHaveTextAsync("cooling down");
        await Expect(ChannelRow(page, 1).GetByTestId("key-detail")).ToContainTextAsync("as the upstream asked");
        await Expect(ChannelRow(page, 2).GetByTestId("key-state")).ToHaveTextAsync("disabled");
        await Expect(ChannelRow(page, 2).GetByTestId("key-detail")).ToContainTextAsync("The upstream rejected this key (401 invalid_api_key)");
        await Expect(ChannelRow(page, 3).GetByTestId("channel-state")).ToHaveTextAsync("healthy");
        await Expect(ChannelRow(page, 3).GetByTestId("key-state")).ToHaveTextAsync("healthy");
        await Expect(ChannelRow(page, 3).GetByTestId("channel-error-rate")).ToHaveTextAsync($"0% (0 of {Requests} failed)");
        await Expect(ChannelRow(page, 3).GetByTestId("channel-latency")).ToContainTextAsync("p50");
        await Expect(ChannelRow(page, 3).GetByTestId("key-stats")).ToContainTextAsync($"0% of {Requests} failed · p50 ");
        await Expect(ChannelRow(page, 0).GetByTestId("key-stats")).ToHaveTextAsync($"100% of {failed} failed");
        await Expect(page.GetByTestId("health-note")).ToContainTextAsync("this instance");
        await ConsoleBrowser.ScreenshotAsync(page, "admin-channels-health");

        // The failing channel: circuit open, every request failed, the 500s listed.
        await page.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[0]}");
        var failingKey = KeyRow(page, 0);
        await Expect(failingKey.GetByTestId("key-state")).ToHaveTextAsync("circuit open");
        await Expect(failingKey.GetByTestId("key-error-rate")).ToHaveTextAsync($"100% ({failed} of {failed} failed)");
        await Expect(failingKey.GetByTestId("key-breaker")).ToHaveTextAsync($"{failed} of the last {failed} failed");
        await Expect(failingKey.GetByTestId("key-latency")).ToHaveTextAsync("—");
        await Expect(page.Locator("table[data-testid=recent-errors] tbody tr")).ToHaveCountAsync(failed);
        await Expect(page.Locator("table[data-testid=recent-errors] tbody tr[data-status='500']")).ToHaveCountAsync(failed);
        Assert.InRange(await UntilAsync(failingKey), before.AddSeconds(599), after.AddSeconds(601));
        await Expect(page.GetByTestId("health-note")).ToContainTextAsync("this instance");
        await ConsoleBrowser.ScreenshotAsync(page, "admin-channel-health-open");

        // The rate-limited channel: cooling down until Retry-After from the 429.
        await page.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[1]}");
        var limitedKey = KeyRow(page, 1);
        await Expect(limitedKey.GetByTestId("key-state")).ToHaveTextAsync("cooling down");
        await Expect(limitedKey.GetByTestId("key-error-rate")).ToHaveTextAsync("100% (1 of 1 failed)");
        Assert.InRange(await UntilAsync(limitedKey), before.AddSeconds(RetryAfterSeconds - 1), after.AddSeconds(RetryAfterSeconds + 1));
        await Expect(page.Locator("table[data-testid=recent-errors] tbody tr[data-status='429']")).ToHaveCountAsync(1);

        // The rejected key: disabled, with the upstream's reason; its error code, never its message.
        await page.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[2]}");
        var rejectedKey = KeyRow(page, 2);
        await Expect(rejectedKey.GetByTestId("key-state")).ToHaveTextAsync("disabled");
        await Expect(rejectedKey.GetByTestId("key-detail")).ToHaveTextAsync("The upstream rejected this key (401 invalid_api_key).");
        var rejection = page.Locator("table[data-testid=recent-errors] tbody tr[data-status='401']");
        await Expect(rejection).ToHaveCountAsync(1);
        await Expect(rejection).ToContainTextAsync("invalid_api_key");
        await ConsoleBrowser.ScreenshotAsync(page, "admin-channel-health-disabled");

        // The healthy channel: no errors, a time to first byte for each request it answered.
        await page.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[3]}");
        var healthyKey = KeyRow(page, 3);
        await Expect(healthyKey.GetByTestId("key-state")).ToHaveTextAsync("healthy");
        await Expect(healthyKey).ToHaveAttributeAsync("data-requests", Requests.ToString(CultureInfo.InvariantCulture));
        await Expect(healthyKey.GetByTestId("key-error-rate")).ToHaveTextAsync($"0% (0 of {Requests} failed)");
        var latency = LatencyText().Match((await healthyKey.GetByTestId("key-latency").TextContentAsync())!);
        Assert.True(latency.Success, "no p50/p95 shown");
        Assert.True(int.Parse(latency.Groups[1].Value, CultureInfo.InvariantCulture) <= int.Parse(latency.Groups[2].Value, CultureInfo.InvariantCulture));
        await Expect(page.GetByTestId("no-recent-errors")).ToBeVisibleAsync();

        foreach (var upstreamKey in _gateway.UpstreamKeys)
        {
            Assert.DoesNotContain(upstreamKey, await page.ContentAsync(), StringComparison.Ordinal);
        }

        // A user who is not an admin can neither see the page nor reset a key, even with a valid antiforgery token.
        await _gateway.CreateUserAsync(email: "carol@example.com");
        var carolPage = await _browser.NewPageAsync();
        await ConsoleBrowser.SignInAsync(carolPage, "carol@example.com");
        await Expect(carolPage).ToHaveURLAsync(new Regex("/console/api-keys$"));
        Assert.Equal(403, (await carolPage.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[0]}"))!.Status);
        Assert.Equal(403, (await carolPage.GotoAsync("/console/admin/channels"))!.Status);
        using (var carol = await ConsoleBrowser.HttpClientWithCookiesOfAsync(carolPage, _gateway.Address))
        {
            var token = await ConsoleBrowser.AntiforgeryTokenAsync(carol, "/console/api-keys");
            Assert.NotEmpty(token);
            using var reset = await carol.PostAsync(
                $"/console/admin/channels/{_gateway.ChannelIds[0]}?handler=resetKey",
                new FormUrlEncodedContent(new Dictionary<string, string> { ["keyId"] = _gateway.ChannelKeyIds[0].ToString(CultureInfo.InvariantCulture), ["__RequestVerificationToken"] = token }));
            Assert.Equal(HttpStatusCode.Redirect, reset.StatusCode);
            Assert.StartsWith("/console/forbidden", reset.Headers.Location!.PathAndQuery, StringComparison.Ordinal);
        }

        await page.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[0]}");
        await Expect(KeyRow(page, 0).GetByTestId("key-state")).ToHaveTextAsync("circuit open");

        // The admin enables the rejected key again once its upstream accepts it: it takes requests at once.
        Rejecting.ForcedFaults = null;
        await page.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[2]}");
        await KeyRow(page, 2).GetByTestId("toggle-key").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("enabled");
        await Expect(KeyRow(page, 2).GetByTestId("key-state")).ToHaveTextAsync("healthy");
        await SendUntilAsync(Rejecting, 2);

        // The admin resets the failing key's circuit once its upstream is fixed: it takes requests at once.
        Failing.ForcedFaults = null;
        await page.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[0]}");
        await KeyRow(page, 0).GetByTestId("reset-key").ClickAsync();
        await Expect(page.GetByTestId("notice")).ToContainTextAsync("takes requests again");
        await Expect(KeyRow(page, 0).GetByTestId("key-state")).ToHaveTextAsync("healthy");
        await Expect(KeyRow(page, 0).GetByTestId("key-error-rate")).ToHaveTextAsync($"100% ({failed} of {failed} failed)");
        await SendUntilAsync(Failing, failed + 1);
        await page.GotoAsync($"/console/admin/channels/{_gateway.ChannelIds[0]}");
        await Expect(KeyRow(page, 0).GetByTestId("key-breaker")).ToHaveTextAsync("0 of the last 1 failed");
        await Expect(KeyRow(page, 0).GetByTestId("key-error-rate")).ToHaveTextAsync($"{Math.Round(100.0 * failed / (failed + 1), 1).ToString(CultureInfo.InvariantCulture)}% ({failed} of {failed + 1} failed)");
        await ConsoleBrowser.ScreenshotAsync(page, "admin-channel-health-reset");

        // Both actions are in the admin's activity log.
        await page.GotoAsync("/console/account");
        await Expect(page.GetByTestId("audit")).ToContainTextAsync("Upstream key enabled");
        await Expect(page.GetByTestId("audit")).ToContainTextAsync("circuit and cool-down reset");
        await Expect(page.GetByTestId("audit")).ToContainTextAsync($"upstream key #{_gateway.ChannelKeyIds[0]}");
    }

    private static ILocator ChannelRow(IPage page, int index) => page.Locator($"tr[data-channel='sim-{index + 1}']");

    private ILocator KeyRow(IPage page, int index) =>
        page.Locator($"table[data-testid=channel-keys] tr[data-key-id='{_gateway.ChannelKeyIds[index]}']");

    private static async Task<DateTime> UntilAsync(ILocator row) =>
        DateTime.Parse((await row.GetAttributeAsync("data-until"))!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    private async Task<HttpStatusCode> StatusOfRequestAsync()
    {
        using var response = await _client.PostAsync("v1/responses", Api.Responses());
        return response.StatusCode;
    }

    /// <summary>Sends requests (a bounded number, while the pool reloads) until <paramref name="upstream"/> has answered <paramref name="count"/>.</summary>
    private async Task SendUntilAsync(SimulatorHost upstream, int count)
    {
        for (var i = 0; i < 50 && upstream.TotalRequests < count; i++)
        {
            Assert.Equal(HttpStatusCode.OK, await StatusOfRequestAsync());
            if (upstream.TotalRequests < count)
            {
                await Task.Delay(100);
            }
        }

        Assert.Equal(count, upstream.TotalRequests);
    }

    [GeneratedRegex(@"p50 (\d+) ms · p95 (\d+) ms")]
    private static partial Regex LatencyText();
}
