using System.Net;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Upstreams;

/// <summary>
/// Issue 5: a Responses stream already kept alive with typed events can still fail over (no upstream byte
/// has reached the client), and ends with <c>response.failed</c> when no upstream can serve it.
/// </summary>
public sealed class WaitingStreamTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { Priority = 10 });
            o.ChannelList.Add(new TestChannel { Priority = 0 });
            o.Settings["Upstreams:KeepAliveSeconds"] = "1";
        });
        _client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task SlowFailingPrimary_AfterKeepAlives_FailsOverAndTheStreamCompletes()
    {
        _gateway.Upstreams[0].ForcedFaults = new SimulatorFaults { DelayHeadersMs = 1600, Status = 500 };

        using var response = await _client.PostAsync("v1/responses", Api.Responses(stream: true));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (events, _, raw) = await Api.ReadStreamAsync(response);
        Assert.Equal("keepalive", events[0].Type());
        Assert.Equal("response.created", events.First(e => e.Type() != "keepalive").Type());
        Assert.Equal("response.completed", events[^1].Type());
        Assert.DoesNotContain("response.failed", raw, StringComparison.Ordinal);
        Assert.Equal(1, _gateway.Upstreams[1].RequestCount);
    }

    [Fact]
    public async Task RequestErrorAfterKeepAlives_EndsTheStreamWithResponseFailedCarryingTheCode()
    {
        _gateway.Upstreams[0].ForcedFaults = new SimulatorFaults { DelayHeadersMs = 1600, Status = 400, Code = "context_length_exceeded" };

        using var response = await _client.PostAsync("v1/responses", Api.Responses(stream: true));

        var (events, _, _) = await Api.ReadStreamAsync(response);
        Assert.Equal("keepalive", events[0].Type());
        Assert.Equal("response.failed", events[^1].Type());
        Assert.Equal("context_length_exceeded", events[^1].GetProperty("response").GetProperty("error").GetProperty("code").GetString());
        Assert.Equal(0, _gateway.Upstreams[1].RequestCount);
    }

    [Fact]
    public async Task EveryUpstreamRateLimited_GivesThe429WithRetryAfter()
    {
        foreach (var upstream in _gateway.Upstreams)
        {
            upstream.ForcedFaults = new SimulatorFaults { Status = 429, RetryAfter = 7 };
        }

        using var response = await _client.PostAsync("v1/chat/completions", Api.Chat());

        await Api.AssertErrorAsync(response, HttpStatusCode.TooManyRequests, "rate_limit_exceeded", "try again in 7s");
        Assert.Equal("7", response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture));

        using var second = await _client.PostAsync("v1/chat/completions", Api.Chat());
        await Api.AssertErrorAsync(second, HttpStatusCode.TooManyRequests, "rate_limit_exceeded");
        Assert.True(second.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(5));
        Assert.Equal(1, _gateway.Upstreams[0].RequestCount);
        Assert.Equal(1, _gateway.Upstreams[1].RequestCount);
    }
}
