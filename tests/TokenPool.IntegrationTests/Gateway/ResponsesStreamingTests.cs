using System.Net;
using System.Text;
using System.Text.Json;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Gateway;

public sealed class ResponsesStreamingTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task StreamedResponse_DeliversEveryEventInOrderAndEndsCompleted()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses")
        {
            Content = new StringContent("""{"model":"gpt-5.5","input":"hello there","stream":true,"store":false}""", Encoding.UTF8, "application/json"),
        };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = Sse.Parse(await response.Content.ReadAsStringAsync());
        var types = events.Select(e => e.GetProperty("type").GetString()).ToList();
        Assert.Equal("response.created", types[0]);
        Assert.Equal("response.completed", types[^1]);
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e.GetProperty("sequence_number").GetInt32()));
        Assert.Contains("hello there", events[^1].GetProperty("response").GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientKey_IsNeverSentUpstream_ChannelKeyIs()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.PostAsync("responses", new StringContent("""{"model":"gpt-5.5","input":"hi"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(_gateway.Upstreams[0].Requests);
        Assert.Equal("Bearer " + _gateway.UpstreamKeys[0], sent.Headers["Authorization"]);
        Assert.DoesNotContain(key, string.Join('\n', sent.Headers.Values), StringComparison.Ordinal);
        Assert.DoesNotContain(key, sent.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysAndUpstreamKeys_NeverAppearInLogs()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        (await client.PostAsync("v1/responses", new StringContent("""{"model":"gpt-5.5","input":"hi","stream":true}""", Encoding.UTF8, "application/json"))).Dispose();
        (await client.PostAsync("v1/responses", new StringContent("""{"model":"no-such-model","input":"hi"}""", Encoding.UTF8, "application/json"))).Dispose();
        using var truncated = _gateway.ClientWithKey(key[..30]);
        (await truncated.PostAsync("v1/responses", new StringContent("""{"model":"gpt-5.5","input":"hi"}""", Encoding.UTF8, "application/json"))).Dispose();
        await _gateway.FlushUsageAsync();

        var logs = _gateway.Logs.All;
        Assert.NotEmpty(_gateway.Logs.Lines);
        Assert.DoesNotContain(key, logs, StringComparison.Ordinal);
        Assert.DoesNotContain(key[..30], logs, StringComparison.Ordinal);
        Assert.DoesNotContain(_gateway.UpstreamKeys[0], logs, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-upstream-", logs, StringComparison.Ordinal);
    }
}

/// <summary>Reads the data lines of a server-sent-event stream as JSON.</summary>
internal static class Sse
{
    public static List<JsonElement> Parse(string body) =>
        body.Split('\n')
            .Where(line => line.StartsWith("data: ", StringComparison.Ordinal) && line != "data: [DONE]")
            .Select(line => JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone())
            .ToList();
}
