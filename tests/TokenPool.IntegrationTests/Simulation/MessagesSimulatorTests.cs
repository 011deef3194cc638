using System.Net;
using System.Text.Json;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Simulation;

/// <summary>
/// The Anthropic-flavoured simulated upstream speaks the Messages API as Anthropic does (protocols.md §10):
/// <c>x-api-key</c> and <c>anthropic-version</c>, the SSE sequence Claude Code accepts, thinking with a
/// signature only this key can send back, cache reads and writes at <c>cache_control</c> breakpoints,
/// <c>count_tokens</c>, and Anthropic's error envelope, statuses and mid-stream <c>event: error</c>.
/// </summary>
public sealed class MessagesSimulatorTests(SimulatorFixture sims) : IClassFixture<SimulatorFixture>
{
    private const string BashTool = """{"name":"Bash","description":"Run a command","input_schema":{"type":"object","properties":{"command":{"type":"string"},"description":{"type":"string"}},"required":["command"]}}""";

    private static string Body(string content, bool stream = true, string extra = "") =>
        $$"""{"model":"claude-sonnet-4-5","max_tokens":2048,"messages":[{"role":"user","content":{{JsonSerializer.Serialize(content)}}}],"tools":[{{BashTool}}],"stream":{{(stream ? "true" : "false")}}{{extra}}}""";

    [Fact]
    public async Task AStreamedToolTurn_FollowsTheMessagesEventSequence_WithThinkingSignatureAndUsage()
    {
        using var client = sims.Client(SimulatorFlavor.Anthropic);

        using var response = await client.PostAsync("v1/messages?beta=true", Sim.Json(Body("run `echo hi`", extra: ""","thinking":{"type":"adaptive"}""")));
        var raw = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(
            ["message_start", "ping",
             "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
             "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
             "message_delta", "message_stop"],
            Sim.EventNames(raw));
        var (data, _, _) = await Sim.ReadSseAsync(response);
        Assert.All(data.Zip(Sim.EventNames(raw)), pair => Assert.Equal(pair.Second, pair.First.GetProperty("type").GetString()));
        var start = data[0].GetProperty("message");
        Assert.StartsWith("msg_01", start.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, start.GetProperty("stop_reason").ValueKind);
        Assert.Equal("thinking", data[2].GetProperty("content_block").GetProperty("type").GetString());
        Assert.Equal("thinking_delta", data[3].GetProperty("delta").GetProperty("type").GetString());
        Assert.Equal("signature_delta", data[5].GetProperty("delta").GetProperty("type").GetString());
        var toolUse = data[7].GetProperty("content_block");
        Assert.Equal("tool_use", toolUse.GetProperty("type").GetString());
        Assert.StartsWith("toolu_01", toolUse.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal("Bash", toolUse.GetProperty("name").GetString());
        Assert.Equal("", data[8].GetProperty("delta").GetProperty("partial_json").GetString());
        var input = string.Concat(data.Skip(8).Take(4).Select(d => d.GetProperty("delta").GetProperty("partial_json").GetString()));
        Assert.Equal("echo hi", JsonDocument.Parse(input).RootElement.GetProperty("command").GetString());
        var delta = data[13];
        Assert.Equal("tool_use", delta.GetProperty("delta").GetProperty("stop_reason").GetString());
        var reported = sims[SimulatorFlavor.Anthropic].Requests[^1].Reported!;
        var usage = delta.GetProperty("usage");
        Assert.Equal(reported.Output, usage.GetProperty("output_tokens").GetInt64());
        Assert.Equal(reported.Uncached, usage.GetProperty("input_tokens").GetInt64());
        Assert.True(usage.Has("cache_read_input_tokens") && usage.Has("cache_creation_input_tokens"));
        Assert.True(reported.Reasoning > 0);
        Assert.Equal("simulated", response.Headers.GetValues("x-tokenpool-upstream").Single());
        Assert.Equal("anthropic", response.Headers.GetValues("x-tokenpool-simulator").Single());
    }

    [Fact]
    public async Task ANonStreamedAnswer_IsOneMessage_WithTextEndTurnAndUsage()
    {
        using var client = sims.Client(SimulatorFlavor.Anthropic);

        using var response = await client.PostAsync("v1/messages", Sim.Json(Body("say hello", stream: false)));
        var message = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal("message", message.GetProperty("type").GetString());
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        var text = Assert.Single(message.GetProperty("content").EnumerateArray());
        Assert.Equal("text", text.GetProperty("type").GetString());
        Assert.Contains("simulated upstream", text.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("end_turn", message.GetProperty("stop_reason").GetString());
        Assert.True(message.GetProperty("usage").GetProperty("input_tokens").GetInt64() > 0);
    }

    [Fact]
    public async Task AThinkingBlockSentBack_IsAcceptedFromThisKey_AndRefusedWhenItsSignatureIsForeign()
    {
        using var client = sims.Client(SimulatorFlavor.Anthropic);
        using var first = await client.PostAsync("v1/messages", Sim.Json(Body("run `ls`", stream: false, extra: ""","thinking":{"type":"enabled","budget_tokens":2000}""")));
        var content = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement.GetProperty("content");
        var thinking = content[0];
        var toolUse = content[1];
        Assert.Equal("thinking", thinking.GetProperty("type").GetString());
        string Next(string signature) => $$$"""
            {"model":"claude-sonnet-4-5","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":2000},"tools":[{{{BashTool}}}],"messages":[
              {"role":"user","content":"run `ls`"},
              {"role":"assistant","content":[{"type":"thinking","thinking":{{{thinking.GetProperty("thinking").GetRawText()}}},"signature":"{{{signature}}}"},{{{toolUse.GetRawText()}}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"{{{toolUse.GetProperty("id").GetString()}}}","content":"a.txt"}]}]}
            """;

        using var accepted = await client.PostAsync("v1/messages", Sim.Json(Next(thinking.GetProperty("signature").GetString()!)));
        using var refused = await client.PostAsync("v1/messages", Sim.Json(Next(SimulatedTurn.NewSeal("another-key"))));

        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Contains("a.txt", await accepted.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("invalid_request_error", error.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal("messages.1.content.0: Invalid `signature` in `thinking` block", error.GetProperty("error").GetProperty("message").GetString());
    }

    [Fact]
    public async Task CacheControlBreakpoints_WriteTheCacheOnce_ThenReadIt_With1hWritesApart()
    {
        using var client = sims.Client(SimulatorFlavor.Anthropic);
        var system = new string('s', 6000);
        string Body(string question, string ttl) => $$$"""
            {"model":"claude-sonnet-4-5","max_tokens":1024,"system":[{"type":"text","text":"{{{system}}}","cache_control":{"type":"ephemeral"{{{ttl}}}}}],
             "messages":[{"role":"user","content":"{{{question}}}"}]}
            """;

        var cold = await UsageAsync(client, Body("first", ""));
        var warm = await UsageAsync(client, Body("second", ""));
        var hour = await UsageAsync(client, Body("third", ""","ttl":"1h" """));

        Assert.Equal(0, cold.GetProperty("cache_read_input_tokens").GetInt64());
        var written = cold.GetProperty("cache_creation_input_tokens").GetInt64();
        Assert.True(written >= 1500, $"the 6,000-character system block is written to the cache ({written})");
        Assert.Equal(written, cold.GetProperty("cache_creation").GetProperty("ephemeral_5m_input_tokens").GetInt64());
        Assert.Equal(written, warm.GetProperty("cache_read_input_tokens").GetInt64());
        Assert.Equal(0, warm.GetProperty("cache_creation_input_tokens").GetInt64());
        Assert.True(warm.GetProperty("input_tokens").GetInt64() < 50, "only the part after the breakpoint is uncached input");
        Assert.True(hour.GetProperty("cache_creation").GetProperty("ephemeral_1h_input_tokens").GetInt64() > 1500, "a changed breakpoint (ttl 1h) is a new prefix, written for an hour");
    }

    [Fact]
    public async Task CountTokens_AnswersInputTokens_WithoutMaxTokens()
    {
        using var client = sims.Client(SimulatorFlavor.Anthropic);

        using var response = await client.PostAsync("v1/messages/count_tokens?beta=true", Sim.Json("""{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"how many tokens is this?"}]}"""));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var count = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(["input_tokens"], count.EnumerateObject().Select(p => p.Name));
        Assert.True(count.GetProperty("input_tokens").GetInt64() > 5);
    }

    [Fact]
    public async Task TheKeyGoesInXApiKey_AndAnthropicVersionIsRequired_WithAnthropicsErrors()
    {
        using var noKey = sims.Client(SimulatorFlavor.Anthropic, key: null);
        using var wrongKey = sims.Client(SimulatorFlavor.Anthropic, "sk-ant-wrong");
        using var noVersion = new HttpClient { BaseAddress = new Uri(sims[SimulatorFlavor.Anthropic].Address + "/") };
        noVersion.DefaultRequestHeaders.Add("x-api-key", SimulatorFixture.Key);

        await AssertAnthropicErrorAsync(await noKey.PostAsync("v1/messages", Sim.Json(Body("hi"))), 401, "authentication_error", "x-api-key");
        await AssertAnthropicErrorAsync(await wrongKey.PostAsync("v1/messages", Sim.Json(Body("hi"))), 401, "authentication_error", "invalid x-api-key");
        await AssertAnthropicErrorAsync(await noVersion.PostAsync("v1/messages", Sim.Json(Body("hi"))), 400, "invalid_request_error", "anthropic-version");
        using var client = sims.Client(SimulatorFlavor.Anthropic);
        await AssertAnthropicErrorAsync(await client.PostAsync("v1/messages", Sim.Json("""{"model":"claude-sonnet-4-5","messages":[]}""")), 400, "invalid_request_error", "max_tokens: Field required");
        await AssertAnthropicErrorAsync(await client.PostAsync("v1/messages", Sim.Json("""{"model":"no-such-model","max_tokens":5,"messages":[]}""")), 404, "not_found_error", "model: no-such-model");
        await AssertAnthropicErrorAsync(await client.PostAsync("v1/chat/completions", Sim.Json("""{"model":"x"}""")), 404, "not_found_error", "Not Found");
    }

    [Theory]
    [InlineData(400, "invalid_request_error")]
    [InlineData(403, "permission_error")]
    [InlineData(413, "request_too_large")]
    [InlineData(429, "rate_limit_error")]
    [InlineData(500, "api_error")]
    [InlineData(529, "overloaded_error")]
    public async Task EachStatus_ComesInAnthropicsEnvelope_WithItsType_AndARequestId(int status, string type)
    {
        using var client = sims.Client(SimulatorFlavor.Anthropic);

        using var response = await client.SendAsync(Sim.Post("v1/messages", Body("hi"), $"status={status} retry_after=3"));

        await AssertAnthropicErrorAsync(response, status, type, "");
        Assert.StartsWith("req_", response.Headers.GetValues("request-id").Single(), StringComparison.Ordinal);
        Assert.Equal("3", response.Headers.GetValues("retry-after").Single());
        Assert.Equal(status == 429, response.Headers.Contains("anthropic-ratelimit-requests-remaining"));
    }

    [Fact]
    public async Task AFailureMidStream_IsAnErrorEvent_AfterTheTextSoFar_WithNoMessageStop()
    {
        using var client = sims.Client(SimulatorFlavor.Anthropic);

        using var response = await client.SendAsync(Sim.Post("v1/messages", Body("say something"), "fail=text"));
        var raw = await response.Content.ReadAsStringAsync();

        var names = Sim.EventNames(raw);
        Assert.Equal("error", names[^1]);
        Assert.Contains("content_block_delta", names);
        Assert.DoesNotContain("message_stop", names);
        var (data, _, _) = await Sim.ReadSseAsync(response);
        Assert.Equal("overloaded_error", data[^1].GetProperty("error").GetProperty("type").GetString());
    }

    private static async Task<JsonElement> UsageAsync(HttpClient client, string body)
    {
        using var response = await client.PostAsync("v1/messages", Sim.Json(body));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("usage").Clone();
    }

    private static async Task AssertAnthropicErrorAsync(HttpResponseMessage response, int status, string type, string message)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {body}");
        var root = JsonDocument.Parse(body).RootElement;
        Assert.Equal("error", root.GetProperty("type").GetString());
        Assert.Equal(type, root.GetProperty("error").GetProperty("type").GetString());
        Assert.Contains(message, root.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        response.Dispose();
    }
}
