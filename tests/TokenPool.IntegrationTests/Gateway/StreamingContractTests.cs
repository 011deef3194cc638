using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Gateway;

/// <summary>Issue 2: Responses and Chat Completions pass through untouched, streamed and not, and streams always end properly.</summary>
public sealed class StreamingContractTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o => o.ChannelList.Add(new TestChannel { StreamIdleTimeoutSeconds = 1 }));
        _client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ResponsesRequest_PassesEveryFieldAndItemTypeThroughUnchanged(bool stream)
    {
        var encrypted = await EncryptedReasoningAsync();
        var body = new JsonObject
        {
            ["model"] = "gpt-5.5",
            ["instructions"] = "You are a coding agent.",
            ["input"] = new JsonArray(
                new JsonObject { ["type"] = "message", ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "input_text", ["text"] = "list the files" }) },
                new JsonObject { ["type"] = "reasoning", ["id"] = "rs_1", ["summary"] = new JsonArray(), ["encrypted_content"] = encrypted },
                new JsonObject { ["type"] = "function_call", ["id"] = "fc_1", ["call_id"] = "call_1", ["name"] = "shell", ["arguments"] = "{\"command\":[\"ls\"]}" },
                new JsonObject { ["type"] = "function_call_output", ["call_id"] = "call_1", ["output"] = "a.txt\nb.txt" }),
            ["tools"] = new JsonArray(
                new JsonObject { ["type"] = "web_search" },
                new JsonObject
                {
                    ["type"] = "function", ["name"] = "shell", ["strict"] = false,
                    ["parameters"] = new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["command"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" } } } },
                }),
            ["tool_choice"] = "auto",
            ["parallel_tool_calls"] = false,
            ["include"] = new JsonArray("reasoning.encrypted_content"),
            ["reasoning"] = new JsonObject { ["effort"] = "medium", ["summary"] = "auto" },
            ["text"] = new JsonObject { ["verbosity"] = "low" },
            ["prompt_cache_key"] = "019a-session-1",
            ["store"] = false,
            ["client_metadata"] = new JsonObject { ["originator"] = "codex_exec", ["x-extra"] = 7 },
            ["stream"] = stream,
        };
        using var response = await _client.PostAsync("v1/responses", Api.Json(body.ToJsonString()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = Assert.Single(_gateway.Upstreams[0].Requests, r => r.Body.Contains("019a-session-1", StringComparison.Ordinal));

        // Every field and item goes as it came; only the output limit TokenPool holds money for is added (the model's reserve).
        var expected = body.DeepClone().AsObject();
        expected["max_output_tokens"] = _gateway.Get<TokenPool.Billing.PriceCatalog>().Find("gpt-5.5")!.ReserveOutputTokens;
        Assert.True(JsonNode.DeepEquals(expected, JsonNode.Parse(sent.Body)), sent.Body);
        if (stream)
        {
            var (events, _, _) = await Api.ReadStreamAsync(response);
            Assert.Equal("response.created", events[0].Type());
            Assert.Equal("response.completed", events[^1].Type());
            Assert.Contains(events, e => e.Type() == "response.output_item.added");
        }
        else
        {
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("completed", document.RootElement.GetProperty("status").GetString());
            Assert.True(document.RootElement.GetProperty("usage").GetProperty("input_tokens").GetInt64() > 0);
        }
    }

    [Fact]
    public async Task ChatStream_WithToolCallDeltasAndStreamOptions_EndsWithUsageThenDone()
    {
        using var response = await _client.PostAsync("v1/chat/completions", Api.Chat("[[sim: tool=shell cmd=\"ls -la\"]]", stream: true,
            extra: ""","stream_options":{"include_usage":true},"tools":[{"type":"function","function":{"name":"shell","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}}]"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var (chunks, done, raw) = await Api.ReadStreamAsync(response);
        Assert.True(done, raw);
        Assert.EndsWith("data: [DONE]\n\n", raw, StringComparison.Ordinal);
        var toolDeltas = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0
            && c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("tool_calls", out _)).ToList();
        Assert.NotEmpty(toolDeltas);
        var first = toolDeltas[0].GetProperty("choices")[0].GetProperty("delta").GetProperty("tool_calls")[0];
        Assert.Equal("shell", first.GetProperty("function").GetProperty("name").GetString());
        var arguments = string.Concat(toolDeltas.Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("tool_calls")[0].GetProperty("function").GetProperty("arguments").GetString()));
        Assert.Contains("ls -la", arguments, StringComparison.Ordinal);
        Assert.Contains(chunks, c => c.GetProperty("choices").GetArrayLength() > 0 && c.GetProperty("choices")[0].GetProperty("finish_reason").GetString() == "tool_calls");
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.True(usage.GetProperty("usage").GetProperty("prompt_tokens").GetInt64() > 0);
    }

    [Fact]
    public async Task ChatStream_WithoutIncludeUsage_HidesTheUsageTokenPoolAskedFor_ButBillsIt()
    {
        using var response = await _client.PostAsync("v1/chat/completions", Api.Chat("say hi", stream: true));

        var (chunks, done, raw) = await Api.ReadStreamAsync(response);
        Assert.True(done, raw);
        Assert.All(chunks, c => Assert.True(!c.TryGetProperty("usage", out var u) || u.ValueKind == JsonValueKind.Null, raw));
        Assert.Contains("include_usage", _gateway.Upstreams[0].Requests[^1].Body, StringComparison.Ordinal);
        var record = (await _gateway.UsageRecordsAsync())[^1];
        Assert.False(record.IsEstimated);
        Assert.True(record.InputTokens > 0);
    }

    [Fact]
    public async Task ChatNonStreamed_WithToolCall_ReturnsTheToolCallMessage()
    {
        using var response = await _client.PostAsync("v1/chat/completions", Api.Chat("[[sim: tool=shell cmd=pwd]]",
            extra: ""","tools":[{"type":"function","function":{"name":"shell","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}}]"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = document.RootElement.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        Assert.Equal("shell", choice.GetProperty("message").GetProperty("tool_calls")[0].GetProperty("function").GetProperty("name").GetString());
        Assert.True(response.Headers.Contains("x-tokenpool-cost-usd"));
    }

    [Theory]
    [InlineData("drop_after=3 delay_events_ms=50")]
    [InlineData("stall_after=3")]
    public async Task ResponsesStream_UpstreamFailingMidStream_EndsWithResponseFailedAndErrorCode(string fault)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses(stream: true) };
        request.Headers.Add("x-sim", fault);
        var watch = Stopwatch.StartNew();
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var (events, _, raw) = await Api.ReadStreamAsync(response);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the stream hung");
        Assert.Equal("response.created", events[0].Type());
        var last = events[^1];
        Assert.Equal("response.failed", last.Type());
        Assert.Equal("failed", last.GetProperty("response").GetProperty("status").GetString());
        Assert.False(string.IsNullOrEmpty(last.GetProperty("response").GetProperty("error").GetProperty("code").GetString()), raw);
        Assert.Equal(events[^2].GetProperty("sequence_number").GetInt32() + 1, last.GetProperty("sequence_number").GetInt32());
        Assert.Equal(1, _gateway.Upstreams[0].RequestCount);
    }

    [Theory]
    [InlineData("drop_after=2 delay_events_ms=50")]
    [InlineData("stall_after=2")]
    public async Task ChatStream_UpstreamFailingMidStream_EndsWithAnErrorChunk(string fault)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Api.Chat(stream: true) };
        request.Headers.Add("x-sim", fault);
        var watch = Stopwatch.StartNew();
        using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var (chunks, _, raw) = await Api.ReadStreamAsync(response);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), "the stream hung");
        var error = chunks[^1].GetProperty("error");
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()), raw);
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.True(error.TryGetProperty("code", out _));
    }

    [Fact]
    public async Task ResponsesStream_ReachesTheClientEventByEvent_FirstEventBeforeTheUpstreamFinished()
    {
        // This class's channel gives up after 1 s of silence (for the stall tests); here a busy machine must not trip that.
        await using var gateway = await TestGateway.StartAsync(o => o.ChannelList.Add(new TestChannel { StreamIdleTimeoutSeconds = 30 }));
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses("a b c d e f g h", stream: true) };
        request.Headers.Add("x-sim", "delay_events_ms=250 deltas=8");
        var watch = Stopwatch.StartNew();
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        string? line;
        while ((line = await reader.ReadLineAsync()) is not null && !line.StartsWith("data: ", StringComparison.Ordinal))
        {
        }

        var firstEventAt = watch.Elapsed;
        Assert.Contains("response.created", line, StringComparison.Ordinal);
        var rest = await reader.ReadToEndAsync();
        var endAt = watch.Elapsed;

        Assert.Contains("response.completed", rest, StringComparison.Ordinal);
        Assert.True(endAt - firstEventAt > TimeSpan.FromSeconds(2), $"first event at {firstEventAt}, end at {endAt}: the stream was buffered");
    }

    [Fact]
    public async Task ClientDisconnect_CancelsTheUpstreamRequestAtOnce()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses(stream: true) };
        request.Headers.Add("x-sim", "delay_events_ms=400 deltas=30");
        var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.StartsWith("event:", await reader.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Equal(0, _gateway.Upstreams[0].ClientAborts);

        var closedAt = Stopwatch.StartNew();
        reader.Dispose();
        response.Dispose();

        Assert.True(await Api.EventuallyAsync(() => _gateway.Upstreams[0].ClientAborts == 1, TimeSpan.FromSeconds(3)), "the upstream request was not cancelled");
        Assert.True(closedAt.Elapsed < TimeSpan.FromSeconds(1.5), $"the upstream was cancelled only after {closedAt.Elapsed}");
        var record = Assert.Single(await WaitForRecordsAsync(1));
        Assert.Equal("client_closed", record.Outcome);
    }

    private async Task<List<TokenPool.Billing.UsageRecord>> WaitForRecordsAsync(int count)
    {
        for (var i = 0; i < 100; i++)
        {
            var records = await _gateway.UsageRecordsAsync();
            if (records.Count >= count)
            {
                return records;
            }

            await Task.Delay(50);
        }

        return await _gateway.UsageRecordsAsync();
    }

    private async Task<string> EncryptedReasoningAsync()
    {
        using var response = await _client.PostAsync("v1/responses", Api.Responses("think first", extra: ""","reasoning":{"effort":"low"},"include":["reasoning.encrypted_content"]"""));
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var item = document.RootElement.GetProperty("output").EnumerateArray().First(i => i.GetProperty("type").GetString() == "reasoning");
        return item.GetProperty("encrypted_content").GetString()!;
    }
}
