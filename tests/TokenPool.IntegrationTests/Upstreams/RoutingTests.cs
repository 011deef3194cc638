using System.Net;
using System.Text.Json;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Upstreams;

/// <summary>Issue 5, routing: priority groups, weights, aliases and live configuration changes.</summary>
public sealed class RoutingTests
{
    [Fact]
    public async Task HighestPriorityGroup_TakesEverything_ThenTheNextGroupSharesByWeight()
    {
        await using var gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { Priority = 10 });
            o.ChannelList.Add(new TestChannel { Priority = 0, Weight = 3 });
            o.ChannelList.Add(new TestChannel { Priority = 0, Weight = 1 });
        });
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync(100m));
        await SendAsync(client, 20);
        Assert.Equal([20, 0, 0], gateway.Upstreams.Select(u => u.RequestCount));

        await gateway.Channels.SetEnabledAsync(gateway.ChannelIds[0], false, CancellationToken.None);
        Assert.True(await Api.EventuallyAsync(() => gateway.Get<UpstreamPool>().Snapshot.Channels.Count == 2, TimeSpan.FromSeconds(2)));
        await SendAsync(client, 240);

        Assert.Equal(20, gateway.Upstreams[0].RequestCount);
        var share = gateway.Upstreams[1].RequestCount / 240.0;
        Assert.Equal(240, gateway.Upstreams[1].RequestCount + gateway.Upstreams[2].RequestCount);
        Assert.InRange(share, 0.65, 0.85);
    }

    [Fact]
    public async Task ModelAlias_SendsTheChannelsOwnModelName_AndBillsTheModelTheClientAskedFor()
    {
        await using var gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { Priority = 10, Models = ["gpt-5.5"], ModelAliases = "gpt-5.5=gpt-5.5-2026-04", UpstreamModels = ["gpt-5.5-2026-04"] });
            o.ChannelList.Add(new TestChannel { Priority = 0, Models = ["gpt-5.5", "gpt-5.4"] });
        });
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());

        using var response = await client.PostAsync("v1/responses", Api.Responses(stream: true));
        (await client.PostAsync("v1/chat/completions", Api.Chat(model: "gpt-5.4"))).EnsureSuccessStatusCode().Dispose();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (events, _, _) = await Api.ReadStreamAsync(response);
        Assert.Equal("response.completed", events[^1].Type());
        var sent = JsonDocument.Parse(Assert.Single(gateway.Upstreams[0].Requests).Body);
        Assert.Equal("gpt-5.5-2026-04", sent.RootElement.GetProperty("model").GetString());
        Assert.Equal("gpt-5.4", JsonDocument.Parse(Assert.Single(gateway.Upstreams[1].Requests).Body).RootElement.GetProperty("model").GetString());
        Assert.Equal("gpt-5.5", (await gateway.UsageRecordsAsync())[0].Model);
    }

    [Fact]
    public async Task ChannelChange_ReachesTheRunningGatewayWithinTwoSeconds_WithoutDroppingAStreamInFlight()
    {
        await using var gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { Priority = 10 });
            o.ChannelList.Add(new TestChannel { Priority = 0 });
        });
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());
        using var slow = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses("one two three four five six", stream: true) };
        slow.Headers.Add("x-sim", "delay_events_ms=300 deltas=10");
        using var inFlight = await client.SendAsync(slow, HttpCompletionOption.ResponseHeadersRead);
        var reading = Api.ReadStreamAsync(inFlight);

        var backup = gateway.Upstreams[1];
        var changedAt = DateTime.UtcNow;
        await gateway.Channels.UpdateAsync(gateway.ChannelIds[1], new ChannelSettings("sim-2", backup.BaseUrl, ["gpt-5.5"], Priority: 20), CancellationToken.None);
        var moved = false;
        while (!moved && DateTime.UtcNow - changedAt < TimeSpan.FromSeconds(2))
        {
            (await client.PostAsync("v1/chat/completions", Api.Chat())).EnsureSuccessStatusCode().Dispose();
            moved = backup.RequestCount > 0;
        }

        Assert.True(moved, "the channel change did not reach the gateway within 2 s");
        var (events, _, raw) = await reading;
        Assert.Equal("response.completed", events[^1].Type());
        Assert.DoesNotContain("response.failed", raw, StringComparison.Ordinal);
        Assert.Equal(1, gateway.Upstreams[0].Requests.Count(r => r.Path.EndsWith("/responses", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task WaitingForASlowFirstByte_KeepsAResponsesStreamAliveWithTypedEvents()
    {
        await using var gateway = await TestGateway.StartAsync(o => o.Settings["Upstreams:KeepAliveSeconds"] = "1");
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses(stream: true) };
        request.Headers.Add("x-sim", "delay_headers_ms=2600");

        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (events, _, raw) = await Api.ReadStreamAsync(response);
        Assert.True(events.TakeWhile(e => e.Type() == "keepalive").Count() >= 2, raw);
        Assert.Equal("response.created", events.First(e => e.Type() != "keepalive").Type());
        Assert.Equal("response.completed", events[^1].Type());
        Assert.DoesNotContain("\n:", "\n" + raw, StringComparison.Ordinal);
    }

    private static async Task SendAsync(HttpClient client, int count)
    {
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, token) =>
            (await client.PostAsync("v1/chat/completions", Api.Chat(), token)).EnsureSuccessStatusCode().Dispose());
    }
}

/// <summary>Issue 5, session affinity: one session stays on one upstream key while healthy, and moves cleanly when it must.</summary>
public sealed class SessionAffinityTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o => o.Channels = 3);
        _client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
    }

    [Theory]
    [InlineData("prompt_cache_key")]
    [InlineData("session-id")]
    [InlineData("x-session-affinity")]
    [InlineData("x-codex-turn-state")]
    public async Task RequestsOfOneSession_GoToTheSameUpstreamKey(string carrier)
    {
        for (var i = 0; i < 12; i++)
        {
            using var request = SessionRequest(carrier, "session-a", await Api.Responses($"turn {i}", stream: i % 2 == 0).ReadAsStringAsync());
            (await _client.SendAsync(request)).EnsureSuccessStatusCode().Dispose();
        }

        Assert.Single(_gateway.Upstreams, u => u.RequestCount > 0);
        Assert.Equal(12, _gateway.Upstreams.Max(u => u.RequestCount));
    }

    [Fact]
    public async Task APreviousResponseIdChain_StaysOnTheUpstreamKeyThatAnsweredItsFirstTurn()
    {
        string? previous = null;
        for (var i = 0; i < 12; i++)
        {
            var extra = previous is null ? "" : $",\"previous_response_id\":\"{previous}\"";
            using var response = await _client.PostAsync("v1/responses", Api.Responses($"turn {i}", stream: i % 2 == 0, extra: extra));
            response.EnsureSuccessStatusCode();
            previous = i % 2 == 0
                ? (await Api.ReadStreamAsync(response)).Item1[^1].GetProperty("response").GetProperty("id").GetString()
                : JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString();
        }

        Assert.Single(_gateway.Upstreams, u => u.RequestCount > 0);
        Assert.Equal(12, _gateway.Upstreams.Max(u => u.RequestCount));
    }

    [Fact]
    public async Task ResponsesNotStored_AreNotRememberedForChains_SoCodexTrafficHoldsNoMemory()
    {
        for (var i = 0; i < 5; i++)
        {
            (await _client.PostAsync("v1/responses", Api.Responses($"turn {i}", extra: ",\"store\":false"))).EnsureSuccessStatusCode().Dispose();
            (await _client.PostAsync("v1/chat/completions", Api.Chat($"turn {i}"))).EnsureSuccessStatusCode().Dispose();
        }

        Assert.Equal(0, _gateway.Get<SessionAffinity>().Count);

        (await _client.PostAsync("v1/responses", Api.Responses("stored"))).EnsureSuccessStatusCode().Dispose();
        Assert.Equal(1, _gateway.Get<SessionAffinity>().Count);
    }

    [Fact]
    public async Task RequestsWithoutASession_AreSpreadOverTheChannels()
    {
        for (var i = 0; i < 30; i++)
        {
            (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        }

        Assert.True(_gateway.Upstreams.Count(u => u.RequestCount > 0) >= 2);
    }

    [Fact]
    public async Task SessionMovedByFailover_DropsEncryptedReasoningInsteadOfFailing_AndRecordsIt()
    {
        using var first = await _client.PostAsync("v1/responses", Api.Responses("think", extra: ""","prompt_cache_key":"s-move","reasoning":{"effort":"low"},"include":["reasoning.encrypted_content"]"""));
        using var document = JsonDocument.Parse(await first.Content.ReadAsStringAsync());
        var reasoning = document.RootElement.GetProperty("output").EnumerateArray().First(i => i.GetProperty("type").GetString() == "reasoning");
        var home = _gateway.Upstreams.Single(u => u.RequestCount == 1);
        home.ForcedFaults = new SimulatorFaults { Status = 503 };

        var input = $$"""[{"type":"message","role":"user","content":[{"type":"input_text","text":"think"}]},{{reasoning.GetRawText()}},{"type":"message","role":"user","content":[{"type":"input_text","text":"go on"}]}]""";
        using var second = await _client.PostAsync("v1/responses", Api.Json($$"""{"model":"gpt-5.5","input":{{input}},"prompt_cache_key":"s-move","reasoning":{"effort":"low"},"stream":true}"""));

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var (events, _, _) = await Api.ReadStreamAsync(second);
        Assert.Equal("response.completed", events[^1].Type());
        var newHome = _gateway.Upstreams.Single(u => u != home && u.RequestCount > 0);
        var sent = newHome.Requests.Single().Body;
        Assert.DoesNotContain("encrypted_content", sent, StringComparison.Ordinal);
        Assert.Contains("go on", sent, StringComparison.Ordinal);
        var record = (await _gateway.UsageRecordsAsync())[^1];
        Assert.Contains("Reasoning items", record.Note, StringComparison.Ordinal);

        home.ForcedFaults = null;
        (await _client.PostAsync("v1/responses", Api.Responses("again", extra: ""","prompt_cache_key":"s-move" """))).EnsureSuccessStatusCode().Dispose();
        Assert.Equal(2, newHome.RequestCount);
    }

    private static HttpRequestMessage SessionRequest(string carrier, string session, string body)
    {
        if (carrier == "prompt_cache_key")
        {
            body = body.TrimEnd('}') + $$""","prompt_cache_key":"{{session}}"}""";
            return new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Json(body) };
        }

        var request = new HttpRequestMessage(HttpMethod.Post, "responses") { Content = Api.Json(body) };
        request.Headers.Add(carrier, session);
        return request;
    }
}
