using System.Text.Json;
using TokenPool.Gateway.Translation;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Gateway;

/// <summary>
/// Requests carried over a channel that does not serve the client's API, through the real server and the real
/// bridges: a Codex-shaped Responses request on a Chat-only channel and a Chat request on a Responses-only one,
/// streamed and not, each answered in the client's API and charged from the usage the upstream reported.
/// </summary>
public sealed class BridgedRequestTests : IAsyncLifetime
{
    private const string ChatOnlyModel = "gpt-5.5";
    private const string ResponsesOnlyModel = "gpt-5.4-mini";

    private TestGateway _gateway = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { Models = [ChatOnlyModel], Wire = WireSet.Of(ApiKind.ChatCompletions) });
            o.ChannelList.Add(new TestChannel { Models = [ResponsesOnlyModel], Wire = WireSet.Of(ApiKind.Responses) });
        });
        _client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync());
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
    }

    private const string CodexBody = """
        {"model":"gpt-5.5","stream":true,
         "input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"You are a coding agent."}]},
                  {"type":"message","role":"user","content":[{"type":"input_text","text":"say hello"}]}],
         "tools":[{"type":"function","name":"exec_command","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}},
                  {"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"start: x"}},
                  {"type":"web_search","external_web_access":false}],
         "tool_choice":"auto","parallel_tool_calls":true,"reasoning":{"effort":"medium"},"store":false,
         "include":["reasoning.encrypted_content"],"prompt_cache_key":"thread-1","text":{"verbosity":"low"}}
        """;

    [Fact]
    public async Task CodexOnAChatOnlyChannel_GetsAWholeResponsesStream_AndIsChargedFromTheUpstreamsUsage()
    {
        using var response = await _client.PostAsync("v1/responses", Api.Json(CodexBody));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(200, (int)response.StatusCode);
        Assert.StartsWith("text/event-stream", response.Content.Headers.ContentType?.ToString());
        var events = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('\n').Single(l => l.StartsWith("data: ", StringComparison.Ordinal))[6..])
            .Select(d => JsonDocument.Parse(d).RootElement).ToList();
        Assert.Equal("response.created", events[0].GetProperty("type").GetString());
        Assert.Equal("response.completed", events[^1].GetProperty("type").GetString());
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e.GetProperty("sequence_number").GetInt32()));
        var completed = events[^1].GetProperty("response");
        var message = completed.GetProperty("output").EnumerateArray().Single(i => i.GetProperty("type").GetString() == "message");
        Assert.Contains("say hello", message.GetProperty("content")[0].GetProperty("text").GetString());

        var usage = completed.GetProperty("usage");
        await _gateway.FlushUsageAsync();
        var record = (await _gateway.UsageRecordsAsync()).Single(r => r.Model == ChatOnlyModel && r.IsStream);
        Assert.False(record.IsEstimated);
        Assert.Equal(usage.GetProperty("input_tokens").GetInt64(), record.InputTokens);
        Assert.Equal(usage.GetProperty("output_tokens").GetInt64(), record.OutputTokens);
        Assert.True(record.ChargedMicros > 0);
    }

    [Fact]
    public async Task CodexOnAChatOnlyChannel_NotStreamed_GetsAResponseObject()
    {
        using var response = await _client.PostAsync("v1/responses", Api.Json(CodexBody.Replace("\"stream\":true", "\"stream\":false", StringComparison.Ordinal)));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("response", body.GetProperty("object").GetString());
        Assert.Equal("completed", body.GetProperty("status").GetString());
        Assert.Equal(ChatOnlyModel, body.GetProperty("model").GetString());
        Assert.True(body.GetProperty("usage").GetProperty("input_tokens").GetInt64() > 0);
    }

    [Fact]
    public async Task ChatClientOnAResponsesOnlyChannel_GetsChatChunks_TheUsageChunkItAskedFor_AndDone()
    {
        using var response = await _client.PostAsync("v1/chat/completions", Api.Json(
            $$"""{"model":"{{ResponsesOnlyModel}}","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"say hello"}]}"""));
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(200, (int)response.StatusCode);
        var data = text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e["data: ".Length..]).ToList();
        Assert.Equal("[DONE]", data[^1]);
        var chunks = data.Take(data.Count - 1).Select(d => JsonDocument.Parse(d).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Contains("say hello", string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0)
            .Select(c => c.GetProperty("choices")[0].GetProperty("delta")).Where(d => d.TryGetProperty("content", out _)).Select(d => d.GetProperty("content").GetString())));
        Assert.Equal("stop", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.True(chunks[^1].GetProperty("usage").GetProperty("prompt_tokens").GetInt64() > 0);
    }
}
