using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Simulation;

/// <summary>
/// The Chat-only simulated upstreams (vLLM, Ollama, DeepSeek, SGLang) send what the real servers send
/// (protocols.md §11.1), byte shape by byte shape, so that TokenPool's relay and translators are tested
/// against each server's quirks: where reasoning goes, how tool calls are split, when usage comes, how
/// errors look, and that they serve no Responses API.
/// </summary>
public sealed class ChatFlavorTests(SimulatorFixture sims) : IClassFixture<SimulatorFixture>
{
    [Fact]
    public async Task Vllm_StreamsReasoningDeltas_ToolCallFragments_AndStopReason()
    {
        using var client = sims.Client(SimulatorFlavor.Vllm);

        using var response = await client.PostAsync("v1/chat/completions", Sim.ChatToolCall(extra: ""","reasoning_effort":"high","stream_options":{"include_usage":true}"""));
        var (chunks, done, _) = await Sim.ReadSseAsync(response);

        Assert.True(done);
        var deltas = chunks.Select(Sim.Delta).Where(d => d is not null).Select(d => d!.Value).ToList();
        Assert.Contains(deltas, d => d.Has("reasoning"));
        Assert.DoesNotContain(deltas, d => d.Has("reasoning_content"));
        var calls = deltas.Where(d => d.Has("tool_calls")).Select(d => d.GetProperty("tool_calls")[0]).ToList();
        Assert.True(calls.Count >= 3, "the arguments come in fragments");
        Assert.StartsWith("chatcmpl-tool-", calls[0].GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal("bash", calls[0].GetProperty("function").GetProperty("name").GetString());
        Assert.All(calls.Skip(1), c => Assert.False(c.Has("id"), "later fragments carry only the index and arguments"));
        Assert.Equal("""{"command":"ls -la"}""", string.Concat(calls.Select(c => c.GetProperty("function").GetProperty("arguments").GetString())));
        Assert.All(chunks.Where(c => Sim.Delta(c) is not null), c => Assert.True(c.GetProperty("choices")[0].Has("stop_reason")));
        var finish = chunks.Single(c => Sim.Delta(c) is not null && c.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind == JsonValueKind.String);
        Assert.Equal("tool_calls", finish.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(JsonValueKind.Null, usage.GetProperty("prompt_tokens_details").ValueKind);
    }

    [Theory]
    [InlineData("", false)]
    [InlineData(""","stream_options":{}""", true)]
    [InlineData(""","stream_options":{"include_usage":false}""", false)]
    [InlineData(""","stream_options":{"include_usage":true}""", true)]
    public async Task Vllm_SendsTheUsageChunk_WhenStreamOptionsAskForIt(string streamOptions, bool expected)
    {
        using var client = sims.Client(SimulatorFlavor.Vllm);

        using var response = await client.PostAsync("v1/chat/completions", Sim.ChatToolCall(extra: streamOptions));
        var (chunks, _, _) = await Sim.ReadSseAsync(response);

        Assert.Equal(expected, chunks.Any(c => c.Has("usage")));
        Assert.Equal(expected, sims[SimulatorFlavor.Vllm].Requests[^1].Reported is not null);
    }

    [Fact]
    public async Task Vllm_WithContinuousUsageStats_PutsRunningUsageOnEveryChunk()
    {
        using var client = sims.Client(SimulatorFlavor.Vllm);

        using var response = await client.PostAsync("v1/chat/completions",
            Sim.Json("""{"model":"qwen3-coder","messages":[{"role":"user","content":"say something long enough"}],"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}"""));
        var (chunks, _, _) = await Sim.ReadSseAsync(response);

        var completions = chunks.Select(c => c.GetProperty("usage").GetProperty("completion_tokens").GetInt64()).ToList();
        Assert.True(completions.Count >= 4);
        Assert.Equal(completions.Order(), completions);
        Assert.True(completions[^1] > completions[0], "the usage on each chunk is the running count, the last one the whole answer");
    }

    [Fact]
    public async Task Ollama_SendsTheWholeToolCallInOneChunk_RoleInEveryDelta_AndBareUsageOnlyWhenAsked()
    {
        using var client = sims.Client(SimulatorFlavor.Ollama, key: null);

        using var asked = await client.PostAsync("v1/chat/completions", Sim.ChatToolCall(extra: ""","reasoning_effort":"low","stream_options":{"include_usage":true}"""));
        var (chunks, done, _) = await Sim.ReadSseAsync(asked);
        using var notAsked = await client.PostAsync("v1/chat/completions", Sim.ChatToolCall());
        var (plain, _, _) = await Sim.ReadSseAsync(notAsked);

        Assert.Equal(HttpStatusCode.OK, asked.StatusCode);
        Assert.True(done);
        var deltas = chunks.Select(Sim.Delta).Where(d => d is not null).Select(d => d!.Value).ToList();
        Assert.All(deltas, d => Assert.Equal("assistant", d.GetProperty("role").GetString()));
        Assert.Contains(deltas, d => d.Has("reasoning"));
        var call = Assert.Single(deltas, d => d.Has("tool_calls")).GetProperty("tool_calls")[0];
        Assert.Matches("^call_[a-z0-9]{8}$", call.GetProperty("id").GetString());
        Assert.Equal("""{"command":"ls -la"}""", call.GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal("fp_ollama", chunks[0].GetProperty("system_fingerprint").GetString());
        Assert.Equal("tool_calls", chunks.Last(c => Sim.Delta(c) is not null).GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(["prompt_tokens", "completion_tokens", "total_tokens"], usage.EnumerateObject().Select(p => p.Name));
        Assert.DoesNotContain(plain, c => c.Has("usage"));
    }

    [Fact]
    public async Task DeepSeek_ReportsCacheHitsOnARepeatedPrefix_AsHitAndMissTokens()
    {
        using var client = sims.Client(SimulatorFlavor.DeepSeek);
        var system = new string('x', 2000);
        string Body(string question) => $$"""{"model":"deepseek-chat","messages":[{"role":"system","content":"{{system}}"},{"role":"user","content":"{{question}}"}]}""";

        using var first = await client.PostAsync("v1/chat/completions", Sim.Json(Body("first question")));
        using var second = await client.PostAsync("v1/chat/completions", Sim.Json(Body("second question")));

        var cold = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement.GetProperty("usage");
        var warm = JsonDocument.Parse(await second.Content.ReadAsStringAsync()).RootElement.GetProperty("usage");
        Assert.Equal(0, cold.GetProperty("prompt_cache_hit_tokens").GetInt64());
        var hit = warm.GetProperty("prompt_cache_hit_tokens").GetInt64();
        Assert.True(hit >= 448, $"the 2,000-character system prompt is a cached prefix (hit {hit})");
        Assert.Equal(0, hit % 64);
        Assert.Equal(warm.GetProperty("prompt_tokens").GetInt64(), hit + warm.GetProperty("prompt_cache_miss_tokens").GetInt64());
        Assert.Equal(hit, warm.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt64());
        Assert.Equal(hit, sims[SimulatorFlavor.DeepSeek].Requests[^1].Reported!.Cached);
    }

    [Fact]
    public async Task DeepSeek_WhileQueued_SendsKeepAliveComments_BeforeTheFirstChunk()
    {
        using var client = sims.Client(SimulatorFlavor.DeepSeek);

        using var response = await client.SendAsync(Sim.Post("v1/chat/completions",
            """{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}],"stream":true,"thinking":{"type":"enabled"}}""", "queue_ms=1200"));
        var (chunks, done, raw) = await Sim.ReadSseAsync(response);

        Assert.StartsWith(": keep-alive\n\n", raw, StringComparison.Ordinal);
        Assert.True(raw.Split(": keep-alive").Length - 1 >= 2);
        Assert.True(done);
        Assert.Contains(chunks, c => Sim.Delta(c) is { } d && d.Has("reasoning_content"));
    }

    [Fact]
    public async Task DeepSeek_InThinkingMode_RefusesAnAssistantToolCallWithoutReasoningContent_AndAcceptsItWithIt()
    {
        using var client = sims.Client(SimulatorFlavor.DeepSeek);
        string Body(string reasoning) => $$$"""
            {"model":"deepseek-chat","thinking":{"type":"enabled"},"tools":[{{{Sim.BashTool}}}],"messages":[
              {"role":"user","content":"run `ls`"},
              {"role":"assistant","content":""{{{reasoning}}},"tool_calls":[{"id":"call_1","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"a.txt"}]}
            """;

        using var refused = await client.PostAsync("v1/chat/completions", Sim.Json(Body("")));
        using var accepted = await client.PostAsync("v1/chat/completions", Sim.Json(Body(""","reasoning_content":"I should list the files." """)));

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Contains("reasoning_content", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("message index 1", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Contains("a.txt", await accepted.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SgLang_WritesFlatErrorObjects_BeforeAndInsideTheStream()
    {
        using var client = sims.Client(SimulatorFlavor.SgLang);

        using var before = await client.SendAsync(Sim.Post("v1/chat/completions", """{"model":"qwen3-coder","messages":[{"role":"user","content":"hi"}]}""", "status=400"));
        using var inside = await client.SendAsync(Sim.Post("v1/chat/completions", """{"model":"qwen3-coder","messages":[{"role":"user","content":"hi"}],"stream":true}""", "fail=text"));

        var error = JsonDocument.Parse(await before.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("error", error.GetProperty("object").GetString());
        Assert.Equal(400, error.GetProperty("code").GetInt32());
        Assert.Equal("BadRequestError", error.GetProperty("type").GetString());
        Assert.False(error.Has("error"));
        var (chunks, done, _) = await Sim.ReadSseAsync(inside);
        Assert.Equal("error", chunks[^1].GetProperty("object").GetString());
        Assert.True(done, "SGLang ends a failed stream with [DONE]");
    }

    [Fact]
    public async Task Vllm_ErrorsCarryIntegerCodes_AndAFailedStreamEndsWithDone_AndAWrongKeyGetsUnauthorized()
    {
        using var client = sims.Client(SimulatorFlavor.Vllm);
        using var wrongKey = sims.Client(SimulatorFlavor.Vllm, "sk-wrong");

        using var missing = await client.PostAsync("v1/chat/completions", Sim.Json("""{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}"""));
        using var inside = await client.SendAsync(Sim.Post("v1/chat/completions", """{"model":"qwen3-coder","messages":[{"role":"user","content":"hi"}],"stream":true}""", "fail=text"));
        using var refused = await wrongKey.PostAsync("v1/chat/completions", Sim.ChatToolCall());

        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var error = JsonDocument.Parse(await missing.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(404, error.GetProperty("code").GetInt32());
        Assert.Equal("NotFoundError", error.GetProperty("type").GetString());
        var (chunks, done, _) = await Sim.ReadSseAsync(inside);
        Assert.Equal(500, chunks[^1].GetProperty("error").GetProperty("code").GetInt32());
        Assert.True(done);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("""{"error":"Unauthorized"}""", await refused.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("vllm", "{\"detail\":\"Not Found\"}")]
    [InlineData("sglang", "{\"detail\":\"Not Found\"}")]
    [InlineData("ollama", "404 page not found")]
    [InlineData("deepseek", "Invalid URL (POST /v1/responses)")]
    public async Task ChatOnlyFlavours_AnswerTheResponsesApiWith404_InTheirServersShape(string name, string body)
    {
        var flavor = SimulatorFlavors.Parse(name)!.Value;
        using var client = sims.Client(flavor);

        using var response = await client.PostAsync("v1/responses", Sim.Json("""{"model":"qwen3-coder","input":"hi"}"""));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains(body, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("simulated", response.Headers.GetValues("x-tokenpool-upstream").Single());
    }

    [Theory]
    [InlineData("vllm")]
    [InlineData("ollama")]
    [InlineData("deepseek")]
    [InlineData("sglang")]
    public async Task TheOfficialOpenAiSdk_ReadsEachFlavoursStream_ToolCallAndUsageIncluded(string flavorName)
    {
        var flavor = SimulatorFlavors.Parse(flavorName)!.Value;
        var sdk = new OpenAIClient(new ApiKeyCredential(SimulatorFixture.Key), new OpenAIClientOptions { Endpoint = new Uri(sims[flavor].BaseUrl) });
        var chat = sdk.GetChatClient("qwen3-coder");
        var options = new ChatCompletionOptions
        {
            Tools = { ChatTool.CreateFunctionTool("bash", "Runs a command", BinaryData.FromString("""{"type":"object","properties":{"command":{"type":"string"}}}""")) },
        };

        var arguments = new StringBuilder();
        string? name = null;
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("run `git status`")], options))
        {
            foreach (var call in update.ToolCallUpdates)
            {
                name ??= call.FunctionName;
                arguments.Append(call.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal("bash", name);
        Assert.Equal("""{"command":"git status"}""", arguments.ToString());
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.NotNull(usage);
        Assert.Equal(sims[flavor].Requests[^1].Reported!.Input, usage.InputTokenCount);

        var completion = (await chat.CompleteChatAsync([new UserChatMessage("plain words please")])).Value;
        Assert.Contains("plain words please", completion.Content[0].Text, StringComparison.Ordinal);
        Assert.Equal(sims[flavor].Requests[^1].Reported!.Output, completion.Usage.OutputTokenCount);
    }
}
