using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Simulation;

/// <summary>
/// Every hostile upstream behaviour the gateway's tests need (issues 14 and 15), each selected by the
/// <c>x-sim</c> header exactly as a test through TokenPool selects it, and pinned here against the
/// simulator directly: what it sends, so that a gateway test failing means the gateway, not the simulator.
/// </summary>
public sealed class SimulatorFaultTests(SimulatorFixture sims) : IClassFixture<SimulatorFixture>
{
    private const string ChatBody = """{"model":"gpt-5.5","messages":[{"role":"user","content":"hello"}],"stream":true,"stream_options":{"include_usage":true}}""";
    private const string ResponsesBody = """{"model":"gpt-5.5","input":"hello","stream":true}""";

    private HttpClient OpenAi => sims.Client(SimulatorFlavor.OpenAi);

    [Fact]
    public async Task LargerLimit_HonoursTheLargerOfMaxTokensAndMaxCompletionTokens_AndFillWritesUpToIt()
    {
        using var client = OpenAi;
        const string body = """{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}],"max_tokens":1,"max_completion_tokens":3000}""";

        var larger = await UsageAsync(client, body, "fill larger_limit");
        var newer = await UsageAsync(client, body.Replace("\"max_tokens\":1,", "\"max_tokens\":3000,", StringComparison.Ordinal).Replace("3000}", "7}", StringComparison.Ordinal), "fill");
        var ignored = await UsageAsync(client, body, "fill=5000 ignore_limit");

        Assert.Equal(3000, larger.GetProperty("completion_tokens").GetInt64());
        Assert.Equal(7, newer.GetProperty("completion_tokens").GetInt64());
        Assert.Equal(5000, ignored.GetProperty("completion_tokens").GetInt64());
    }

    [Fact]
    public async Task AnOutputLimit_CutsTheAnswer_WithFinishReasonLength()
    {
        using var client = OpenAi;

        using var response = await client.SendAsync(Sim.Post("v1/chat/completions", """{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":4}""", "fill=100"));
        var completion = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;

        Assert.Equal("length", completion.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(16, completion.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!.Length);
        Assert.Equal(4, completion.GetProperty("usage").GetProperty("completion_tokens").GetInt64());
    }

    [Theory]
    [InlineData("duplicates=last", 3000)]
    [InlineData("duplicates=first", 2)]
    public async Task ADuplicatedKey_IsReadAsTheServerReadsIt(string rule, long expected)
    {
        using var client = OpenAi;
        const string body = """{"model":"gpt-5.5","input":"hi","max_output_tokens":2,"max_output_tokens":3000}""";

        using var response = await client.SendAsync(Sim.Post("v1/responses", body, "fill " + rule));

        var usage = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("usage");
        Assert.Equal(expected, usage.GetProperty("output_tokens").GetInt64());
    }

    [Fact]
    public async Task ADuplicatedKey_UnderRejectIsA400_NamingTheKey()
    {
        using var client = OpenAi;

        using var response = await client.SendAsync(Sim.Post("v1/responses", """{"model":"gpt-5.5","input":"hi","reasoning":{"effort":"low","effort":"high"}}""", "duplicates=reject"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("reasoning.effort", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PreviousResponseId_CountsTheStoredConversationAsInput_RefusesAnUnknownId_AndPreviousInputClaimsAHugeOne()
    {
        using var client = OpenAi;
        using var first = await client.PostAsync("v1/responses", Sim.Json("""{"model":"gpt-5.5","input":"remember this"}"""));
        var stored = JsonDocument.Parse(await first.Content.ReadAsStringAsync()).RootElement;
        var storedTokens = stored.GetProperty("usage").GetProperty("total_tokens").GetInt64();
        var id = stored.GetProperty("id").GetString();

        var next = await ResponsesUsageAsync(client, $$"""{"model":"gpt-5.5","input":"and this","previous_response_id":"{{id}}"}""", null);
        var huge = await ResponsesUsageAsync(client, """{"model":"gpt-5.5","input":"and this","previous_response_id":"resp_unknown","max_output_tokens":16}""", "previous_input=200000");
        using var unknown = await client.PostAsync("v1/responses", Sim.Json("""{"model":"gpt-5.5","input":"x","previous_response_id":"resp_nope"}"""));

        var alone = SimulatedTurn.Tokens("\"and this\"");
        Assert.Equal(storedTokens + alone, next.GetProperty("input_tokens").GetInt64());
        Assert.Equal(200000 + alone, huge.GetProperty("input_tokens").GetInt64());
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        var error = JsonDocument.Parse(await unknown.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("previous_response_not_found", error.GetProperty("code").GetString());
    }

    [Fact]
    public async Task NoUsage_LeavesUsageOut_StreamedAndNot_InEachApi()
    {
        using var client = OpenAi;
        using var anthropic = sims.Client(SimulatorFlavor.Anthropic);

        using var chatStream = await client.SendAsync(Sim.Post("v1/chat/completions", ChatBody, "no_usage"));
        using var chatObject = await client.SendAsync(Sim.Post("v1/chat/completions", ChatBody.Replace("\"stream\":true", "\"stream\":false", StringComparison.Ordinal), "no_usage"));
        using var responsesStream = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "no_usage"));
        using var messages = await anthropic.SendAsync(Sim.Post("v1/messages", """{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}],"stream":true}""", "no_usage"));

        Assert.DoesNotContain("\"usage\"", await chatStream.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain("\"usage\"", await chatObject.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var (events, _, _) = await Sim.ReadSseAsync(responsesStream);
        Assert.Equal(JsonValueKind.Null, events[^1].GetProperty("response").GetProperty("usage").ValueKind);
        Assert.DoesNotContain("output_tokens", await messages.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Null(sims[SimulatorFlavor.Anthropic].Requests[^1].Reported);
    }

    [Fact]
    public async Task RunningTotals_ReportsTheSumOfEveryRequestSoFar_InsteadOfThisOnesUsage()
    {
        using var client = OpenAi;

        var first = await UsageAsync(client, """{"model":"gpt-5.5","messages":[{"role":"user","content":"one"}]}""", "running_totals");
        var second = await UsageAsync(client, """{"model":"gpt-5.5","messages":[{"role":"user","content":"two"}]}""", "running_totals");
        var own = await UsageAsync(client, """{"model":"gpt-5.5","messages":[{"role":"user","content":"two"}]}""", null);

        Assert.Equal(first.GetProperty("prompt_tokens").GetInt64() + own.GetProperty("prompt_tokens").GetInt64(), second.GetProperty("prompt_tokens").GetInt64());
        Assert.Equal(first.GetProperty("completion_tokens").GetInt64() + own.GetProperty("completion_tokens").GetInt64(), second.GetProperty("completion_tokens").GetInt64());
    }

    [Fact]
    public async Task DelayHeaders_HoldsTheResponseHeadersBack()
    {
        using var client = OpenAi;
        var started = DateTime.UtcNow;

        using var response = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "delay_headers_ms=700"), HttpCompletionOption.ResponseHeadersRead);

        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(650));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData(400, false)]
    [InlineData(403, false)]
    [InlineData(404, false)]
    [InlineData(422, false)]
    [InlineData(500, false)]
    [InlineData(400, true)]
    [InlineData(500, true)]
    public async Task Leak_PutsTheRequestsOwnKeyAndOtherCredentials_InEveryErrorBody(int status, bool midStream)
    {
        using var client = OpenAi;

        using var response = await client.SendAsync(Sim.Post("v1/chat/completions", ChatBody, midStream ? "leak fail=text" : $"leak status={status}"));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(midStream ? 200 : status, (int)response.StatusCode);
        Assert.Contains("Bearer " + SimulatorFixture.Key, body, StringComparison.Ordinal);
        Assert.Contains(SimulatorErrors.LeakedOrganization, body, StringComparison.Ordinal);
        Assert.Contains(SimulatorErrors.LeakedProjectKey, body, StringComparison.Ordinal);
        Assert.Contains(SimulatorErrors.LeakedJwt, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Leak_ReachesResponsesFailedAndAnthropicErrorEvents_Too()
    {
        using var client = OpenAi;
        using var anthropic = sims.Client(SimulatorFlavor.Anthropic);

        using var responses = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "leak fail=text"));
        using var messages = await anthropic.SendAsync(Sim.Post("v1/messages", """{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}],"stream":true}""", "leak fail=text"));

        var (events, _, _) = await Sim.ReadSseAsync(responses);
        Assert.Equal("response.failed", events[^1].Type());
        Assert.Contains(SimulatorFixture.Key, events[^1].GetProperty("response").GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains(SimulatorErrors.LeakedJwt, await messages.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gzip_CompressesTheAnswer_EvenWhenTheRequestAsksForIdentity()
    {
        using var client = OpenAi;
        using var request = Sim.Post("v1/responses", ResponsesBody, "gzip");
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "identity");

        using var response = await client.SendAsync(request);
        var compressed = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal("gzip", Assert.Single(response.Content.Headers.ContentEncoding));
        Assert.Equal(0x1f, compressed[0]);
        using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        var text = await new StreamReader(gzip, Encoding.UTF8).ReadToEndAsync();
        Assert.Contains("event: response.completed", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(301)]
    [InlineData(302)]
    [InlineData(307)]
    public async Task Redirect_AnswersWithTheStatusAndALocationElsewhere_AndTheTargetServes(int status)
    {
        var host = sims[SimulatorFlavor.OpenAi];
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(host.Address + "/") };
        client.DefaultRequestHeaders.Authorization = new("Bearer", SimulatorFixture.Key);

        using var response = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, $"redirect={status}"));
        using var elsewhere = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "redirect=307 location=http://127.0.0.2:9/v1/responses"));

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal($"{host.Address}/moved/v1/responses", response.Headers.Location!.ToString());
        Assert.Equal("http://127.0.0.2:9/v1/responses", elsewhere.Headers.Location!.ToString());
        using var followed = await client.SendAsync(Sim.Post(response.Headers.Location.ToString(), ResponsesBody, $"redirect={status}"));
        Assert.Equal(HttpStatusCode.OK, followed.StatusCode);
        Assert.Equal("/moved/v1/responses", host.Requests[^1].Path);
    }

    [Theory]
    [InlineData("responses", "created", "response.in_progress", "response.output_item.added")]
    [InlineData("responses", "text", "response.output_text.delta", "response.output_text.done")]
    [InlineData("responses", "tool", "response.function_call_arguments.delta", "response.function_call_arguments.done")]
    [InlineData("responses", "usage", "response.output_item.done", "response.completed")]
    [InlineData("chat", "text", "content", "finish")]
    [InlineData("chat", "tool", "tool_calls", "finish")]
    [InlineData("chat", "usage", "finish", "usage")]
    [InlineData("messages", "created", "ping", "content_block_start")]
    [InlineData("messages", "text", "content_block_delta", "content_block_stop")]
    [InlineData("messages", "tool", "content_block_delta", "content_block_stop")]
    [InlineData("messages", "usage", "content_block_stop", "message_delta")]
    public async Task Cut_DropsTheStreamAtTheNamedStage(string api, string stage, string lastSent, string neverSent)
    {
        var (received, reset) = await CutStreamAsync(api, $"cut={stage}", stage == "tool");

        Assert.True(reset, "the connection is dropped, not closed cleanly");
        var events = Describe(api, received);
        Assert.Equal(lastSent, events[^1]);
        Assert.DoesNotContain(neverSent, events);
    }

    [Fact]
    public async Task Cut_BeforeTheFirstByte_SendsHeadersOnly_AndBeforeTheHeaders_SendsNothing()
    {
        using var client = OpenAi;

        using var headersOnly = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "cut=first_byte"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, headersOnly.StatusCode);
        await Assert.ThrowsAnyAsync<Exception>(() => headersOnly.Content.ReadAsStringAsync());
        await Assert.ThrowsAsync<HttpRequestException>(() => client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "cut=headers")));
    }

    [Fact]
    public async Task Truncate_EndsTheBodyCleanly_WithoutATerminalEvent()
    {
        var (received, reset) = await CutStreamAsync("responses", "truncate=usage", tool: false);

        Assert.False(reset);
        Assert.DoesNotContain("response.completed", Describe("responses", received));
        Assert.Equal("response.output_item.done", Describe("responses", received)[^1]);
    }

    [Theory]
    [InlineData("responses", "response.failed")]
    [InlineData("chat", "error")]
    [InlineData("messages", "error")]
    public async Task Fail_EndsTheStreamWithEachApisMidStreamError(string api, string last)
    {
        var (received, _) = await CutStreamAsync(api, "fail=text fail_code=rate_limit_exceeded", tool: false);

        Assert.Equal(last, Describe(api, received)[^1]);
    }

    [Fact]
    public async Task RateLimited_Answers429_WithRetryAfter_AndServerErrorsTheirStatus()
    {
        using var client = OpenAi;

        using var limited = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "status=429 retry_after=7 code=rate_limit_exceeded"));
        using var failing = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "status=503"));

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), limited.Headers.RetryAfter!.Delta);
        Assert.Equal("0", limited.Headers.GetValues("x-ratelimit-remaining-requests").Single());
        Assert.Equal("7s", limited.Headers.GetValues("x-ratelimit-reset-requests").Single());
        Assert.StartsWith("req_", limited.Headers.GetValues("x-request-id").Single(), StringComparison.Ordinal);
        Assert.Contains("rate_limit_exceeded", await limited.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, failing.StatusCode);
        Assert.Contains("server_error", await failing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Parallel_MakesSeveralToolCalls_KeyedByIndexOrItem_InEachApi()
    {
        using var client = OpenAi;
        using var ollama = sims.Client(SimulatorFlavor.Ollama, key: null);
        using var anthropic = sims.Client(SimulatorFlavor.Anthropic);
        const string chatBody = """{"model":"gpt-5.5","messages":[{"role":"user","content":"run `ls`"}],"tools":[""" + Sim.BashTool + """],"stream":true}""";

        using var chat = await client.SendAsync(Sim.Post("v1/chat/completions", chatBody, "parallel=2"));
        using var whole = await ollama.SendAsync(Sim.Post("v1/chat/completions", chatBody, "parallel=2"));
        using var responses = await client.SendAsync(Sim.Post("v1/responses",
            """{"model":"gpt-5.5","input":"run `ls`","tools":[{"type":"function","name":"bash","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}]}""", "parallel=2"));
        using var messages = await anthropic.SendAsync(Sim.Post("v1/messages",
            """{"model":"claude-sonnet-4-5","max_tokens":500,"messages":[{"role":"user","content":"run `ls`"}],"tools":[{"name":"Bash","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}]}""", "parallel=2"));

        var (chunks, _, _) = await Sim.ReadSseAsync(chat);
        var fragments = chunks.Select(Sim.Delta).Where(d => d is { } delta && delta.Has("tool_calls")).Select(d => d!.Value.GetProperty("tool_calls")[0]).ToList();
        Assert.Equal([0, 1], fragments.Select(f => f.GetProperty("index").GetInt32()).Distinct());
        Assert.Equal(2, fragments.Count(f => f.Has("id")));
        var (ollamaChunks, _, _) = await Sim.ReadSseAsync(whole);
        Assert.Equal(2, ollamaChunks.Select(Sim.Delta).Single(d => d is { } delta && delta.Has("tool_calls"))!.Value.GetProperty("tool_calls").GetArrayLength());
        var output = JsonDocument.Parse(await responses.Content.ReadAsStringAsync()).RootElement.GetProperty("output");
        Assert.Equal(2, output.EnumerateArray().Select(i => i.GetProperty("call_id").GetString()).Distinct().Count());
        Assert.Equal(2, output.EnumerateArray().Select(i => i.GetProperty("id").GetString()).Distinct().Count());
        var content = JsonDocument.Parse(await messages.Content.ReadAsStringAsync()).RootElement.GetProperty("content");
        Assert.Equal(2, content.EnumerateArray().Count(b => b.GetProperty("type").GetString() == "tool_use"));
    }

    [Fact]
    public async Task AStopSequence_EndsTheAnswerWhereItAppears_AndIsNamedAsEachServerNamesIt()
    {
        using var anthropic = sims.Client(SimulatorFlavor.Anthropic);
        using var vllm = sims.Client(SimulatorFlavor.Vllm);

        using var messages = await anthropic.PostAsync("v1/messages", Sim.Json("""{"model":"claude-sonnet-4-5","max_tokens":100,"stop_sequences":["You said"],"messages":[{"role":"user","content":"hi"}]}"""));
        using var chat = await vllm.PostAsync("v1/chat/completions", Sim.Json("""{"model":"qwen3-coder","stop":["(not"],"messages":[{"role":"user","content":"hi"}]}"""));

        var message = JsonDocument.Parse(await messages.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("stop_sequence", message.GetProperty("stop_reason").GetString());
        Assert.Equal("You said", message.GetProperty("stop_sequence").GetString());
        Assert.DoesNotContain("You said", message.GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
        var choice = JsonDocument.Parse(await chat.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0];
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
        Assert.Equal("(not", choice.GetProperty("stop_reason").GetString());
        Assert.Equal("Hello from the TokenPool simulated upstream ", choice.GetProperty("message").GetProperty("content").GetString());
    }

    [Fact]
    public async Task Finish_SendsTheNamedFinishReason_InEachApi()
    {
        using var client = OpenAi;
        using var anthropic = sims.Client(SimulatorFlavor.Anthropic);
        using var deepseek = sims.Client(SimulatorFlavor.DeepSeek);

        using var chat = await deepseek.SendAsync(Sim.Post("v1/chat/completions", """{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}""", "finish=insufficient_system_resource"));
        using var messages = await anthropic.SendAsync(Sim.Post("v1/messages", """{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}""", "finish=refusal"));
        using var responses = await client.SendAsync(Sim.Post("v1/responses", ResponsesBody, "finish=content_filter"));

        Assert.Equal("insufficient_system_resource", JsonDocument.Parse(await chat.Content.ReadAsStringAsync()).RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal("refusal", JsonDocument.Parse(await messages.Content.ReadAsStringAsync()).RootElement.GetProperty("stop_reason").GetString());
        var (events, _, _) = await Sim.ReadSseAsync(responses);
        Assert.Equal("response.incomplete", events[^1].Type());
        Assert.Equal("content_filter", events[^1].GetProperty("response").GetProperty("incomplete_details").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task TheUpstreamKey_CanCarryTheFlavourAndFaults_ForTokenpoolSimulate()
    {
        await using var open = await SimulatorHost.StartAsync(new SimulatorOptions());
        using var client = new HttpClient { BaseAddress = new Uri(open.Address + "/") };
        client.DefaultRequestHeaders.Authorization = new("Bearer", "sim;flavor=vllm;status=429;retry_after=2");

        using var response = await client.PostAsync("v1/chat/completions", Sim.Json("""{"model":"any","messages":[{"role":"user","content":"hi"}]}"""));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("vllm", response.Headers.GetValues("x-tokenpool-simulator").Single());
        Assert.Equal(429, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetInt32());
    }

    private static async Task<JsonElement> UsageAsync(HttpClient client, string body, string? sim)
    {
        using var request = Sim.Post("v1/chat/completions", body, sim);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("usage").Clone();
    }

    private static async Task<JsonElement> ResponsesUsageAsync(HttpClient client, string body, string? sim)
    {
        using var response = await client.SendAsync(Sim.Post("v1/responses", body, sim));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.GetProperty("usage").Clone();
    }

    /// <summary>Streams one answer with these faults; returns the bytes that arrived and whether the connection was reset.</summary>
    private async Task<(string Received, bool Reset)> CutStreamAsync(string api, string sim, bool tool)
    {
        var flavor = api == "messages" ? SimulatorFlavor.Anthropic : SimulatorFlavor.OpenAi;
        using var client = sims.Client(flavor);
        var (path, body) = api switch
        {
            "responses" => ("v1/responses", tool
                ? """{"model":"gpt-5.5","input":"run `ls`","tools":[{"type":"function","name":"bash","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}],"stream":true}"""
                : ResponsesBody),
            "chat" => ("v1/chat/completions", tool
                ? """{"model":"gpt-5.5","messages":[{"role":"user","content":"run `ls`"}],"tools":[""" + Sim.BashTool + """],"stream":true,"stream_options":{"include_usage":true}}"""
                : ChatBody),
            _ => ("v1/messages", tool
                ? """{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"run `ls`"}],"tools":[{"name":"Bash","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}],"stream":true}"""
                : """{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}],"stream":true}"""),
        };
        using var response = await client.SendAsync(Sim.Post(path, body, sim), HttpCompletionOption.ResponseHeadersRead);
        var received = new MemoryStream();
        try
        {
            await (await response.Content.ReadAsStreamAsync()).CopyToAsync(received);
            return (Encoding.UTF8.GetString(received.ToArray()), false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            return (Encoding.UTF8.GetString(received.ToArray()), true);
        }
    }

    /// <summary>Names the events that arrived whole: the event type, or for chat chunks what they carry.</summary>
    private static List<string> Describe(string api, string received)
    {
        var blocks = received.Split("\n\n").Where(b => b.Contains("data: ", StringComparison.Ordinal) && b.EndsWith('}') || b.EndsWith("[DONE]", StringComparison.Ordinal));
        var names = new List<string>();
        foreach (var block in blocks)
        {
            var data = block[(block.IndexOf("data: ", StringComparison.Ordinal) + 6)..];
            if (data == "[DONE]")
            {
                names.Add("done");
                continue;
            }

            JsonElement json;
            try
            {
                json = JsonDocument.Parse(data).RootElement;
            }
            catch (JsonException)
            {
                continue;
            }

            if (api != "chat")
            {
                names.Add(json.GetProperty("type").GetString()!);
            }
            else if (json.Has("error"))
            {
                names.Add("error");
            }
            else if (json.GetProperty("choices").GetArrayLength() == 0)
            {
                names.Add("usage");
            }
            else
            {
                var choice = json.GetProperty("choices")[0];
                var delta = choice.GetProperty("delta");
                names.Add(choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String ? "finish"
                    : delta.Has("tool_calls") ? "tool_calls"
                    : delta.Has("role") ? "role"
                    : "content");
            }
        }

        return names;
    }
}
