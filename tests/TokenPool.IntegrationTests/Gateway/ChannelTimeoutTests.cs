using System.Diagnostics;
using System.Net;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Gateway;

/// <summary>Issue 5: a channel's own total timeout ends its requests, whatever the global default says.</summary>
public sealed class ChannelTimeoutTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o =>
        {
            o.Settings["Upstreams:TotalTimeoutSeconds"] = "3600";
            o.ChannelList.Add(new TestChannel { TotalTimeoutSeconds = 2 });
        });
        _client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task SlowStream_IsEndedAtTheChannelsTotalTimeout_NotTheGlobalOne()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses("a slow answer", stream: true) };
        request.Headers.Add("x-sim", "delay_events_ms=300 deltas=40");
        var watch = Stopwatch.StartNew();
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var (events, _, raw) = await Api.ReadStreamAsync(response);
        var elapsed = watch.Elapsed;

        Assert.True(elapsed >= TimeSpan.FromSeconds(1.8) && elapsed < TimeSpan.FromSeconds(6), $"the stream ended after {elapsed}");
        Assert.Equal("response.created", events[0].Type());
        var last = events[^1];
        Assert.Equal("response.failed", last.Type());
        Assert.Contains("limit of 2 seconds", last.GetProperty("response").GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("response.completed", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SlowHeaders_AreAnsweredWithATimeoutAtTheChannelsTotalTimeout()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses("slow to start") };
        request.Headers.Add("x-sim", "delay_headers_ms=8000");
        var watch = Stopwatch.StartNew();
        using var response = await _client.SendAsync(request);
        var elapsed = watch.Elapsed;

        Assert.True(elapsed >= TimeSpan.FromSeconds(1.8) && elapsed < TimeSpan.FromSeconds(6), $"answered after {elapsed}");
        await Api.AssertErrorAsync(response, HttpStatusCode.GatewayTimeout, "upstream_timeout", "within 2 seconds");
    }

    [Fact]
    public async Task ChannelWithALongerTotalTimeout_HoldsItsReservationThatLong()
    {
        await using var gateway = await TestGateway.StartAsync(o =>
        {
            o.Settings["Upstreams:TotalTimeoutSeconds"] = "60";
            o.ChannelList.Add(new TestChannel { TotalTimeoutSeconds = 7200 });
        });
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses("slow to start") };
        request.Headers.Add("x-sim", "delay_headers_ms=1500");
        var sending = client.SendAsync(request);

        DateTime? expires = null;
        for (var i = 0; i < 100 && expires is null; i++)
        {
            await using var db = await gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
            expires = (await db.Reservations.AsNoTracking().FirstOrDefaultAsync())?.ExpiresAt;
            await Task.Delay(20);
        }

        using var response = await sending;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(expires);
        Assert.True(expires > DateTime.UtcNow.AddSeconds(7000), $"the reservation expires at {expires:O}, before the channel's 2 hour limit");
    }
}
