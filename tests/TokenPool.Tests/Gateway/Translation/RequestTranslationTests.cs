using System.Text.Json;
using TokenPool.Gateway.Translation;
using TokenPool.Gateway.Translation.Pivot;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Requests as Codex, OpenCode, Claude Code and Chat scripts send them, rewritten for a channel that speaks another API.</summary>
public sealed class RequestTranslationTests
{
    /// <summary>Codex 0.171 with a bundled slug (protocols §1.4, §8.2), second request of a tool turn (§8.3).</summary>
    private const string CodexBody = """
        {"model":"gpt-5.5","stream":true,
         "instructions":"Base instructions.",
         "input":[
          {"type":"message","id":"msg_1","role":"developer","content":[{"type":"input_text","text":"You are a coding agent."}]},
          {"type":"message","id":"msg_2","role":"user","content":[{"type":"input_text","text":"<environment_context>cwd</environment_context>"}]},
          {"type":"message","id":"msg_3","role":"user","content":[{"type":"input_text","text":"run echo hi"},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]},
          {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Plan: run echo."}],"content":null,"encrypted_content":"gAAAAABforeign"},
          {"type":"function_call","status":"completed","id":"fc_1","name":"exec_command","arguments":"{\"cmd\":\"echo hi\"}","call_id":"call_1"},
          {"type":"function_call_output","id":"fco_1","call_id":"call_1","output":"hi\n"},
          {"type":"custom_tool_call","id":"ctc_1","status":"completed","call_id":"call_c1","name":"apply_patch","input":"*** Begin Patch\n*** End Patch\n"},
          {"type":"custom_tool_call_output","id":"ctco_1","call_id":"call_c1","output":"patch rejected"},
          {"type":"web_search_call","id":"ws_1","status":"completed"}
         ],
         "tools":[
          {"type":"function","name":"exec_command","description":"Runs a command.","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}},"required":["cmd"],"additionalProperties":false}},
          {"type":"custom","name":"apply_patch","description":"Use apply_patch to edit files.","format":{"type":"grammar","syntax":"lark","definition":"start: begin_patch hunk+ end_patch"}},
          {"type":"namespace","name":"multi_agent_v1","description":"Sub-agents.","tools":[{"type":"function","name":"spawn_agent","parameters":{"type":"object","properties":{}}}]},
          {"type":"tool_search","execution":"client","description":"# Tool discovery","parameters":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}},
          {"type":"web_search","external_web_access":false}
         ],
         "tool_choice":"auto","parallel_tool_calls":true,"reasoning":{"effort":"xhigh"},"store":false,
         "include":["reasoning.encrypted_content"],"prompt_cache_key":"thread-1","text":{"verbosity":"low"},
         "max_output_tokens":999999,"client_metadata":{"turn_id":"t"}}
        """;

    [Fact]
    public void CodexOnChat_MessagesToolsAndLimits_FollowTheTranslationRules()
    {
        var (body, context) = Request(ApiKind.Responses, ApiKind.ChatCompletions, CodexBody);

        Assert.Equal("upstream-model", body.Str("model"));
        Assert.Equal(4096, body.GetProperty("max_tokens").GetInt32());
        Assert.False(body.TryGetProperty("max_completion_tokens", out _));
        Assert.False(body.TryGetProperty("max_output_tokens", out _));
        Assert.True(body.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal("high", body.Str("reasoning_effort"));
        foreach (var dropped in new[] { "store", "include", "prompt_cache_key", "text", "client_metadata", "instructions", "input" })
        {
            Assert.False(body.TryGetProperty(dropped, out _), dropped);
        }

        var messages = body.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(["system", "user", "user", "assistant", "tool", "assistant", "tool"], messages.Select(m => m.Str("role")));
        Assert.Equal("Base instructions.\n\nYou are a coding agent.", messages[0].Str("content"));
        var image = messages[2].GetProperty("content")[1];
        Assert.Equal("data:image/png;base64,AAAA", image.GetProperty("image_url").Str("url"));
        Assert.False(messages[3].TryGetProperty("reasoning_content", out _), "a foreign encrypted_content carries nothing");
        Assert.Equal("call_1", messages[3].GetProperty("tool_calls")[0].Str("id"));
        Assert.Equal("{\"cmd\":\"echo hi\"}", messages[3].GetProperty("tool_calls")[0].GetProperty("function").Str("arguments"));
        Assert.Equal(("call_1", "hi\n"), (messages[4].Str("tool_call_id"), messages[4].Str("content")));
        var patch = messages[5].GetProperty("tool_calls")[0].GetProperty("function");
        Assert.Equal("apply_patch", patch.Str("name"));
        Assert.Equal("*** Begin Patch\n*** End Patch\n", JsonDocument.Parse(patch.Str("arguments")).RootElement.Str("input"));

        var tools = body.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("function")).ToList();
        Assert.Equal(["exec_command", "apply_patch", "multi_agent_v1__spawn_agent", "tool_search"], tools.Select(t => t.Str("name")));
        Assert.Contains("start: begin_patch hunk+ end_patch", tools[1].Str("description"));
        Assert.Equal("string", tools[1].GetProperty("parameters").GetProperty("properties").GetProperty("input").Str("type"));
        Assert.Equal("auto", body.Str("tool_choice"));
        Assert.True(body.GetProperty("parallel_tool_calls").GetBoolean());

        Assert.Equal(ToolKind.Custom, context!.Resolve("apply_patch").Kind);
        Assert.Equal(new ToolOrigin(ToolKind.Function, "multi_agent_v1", "spawn_agent"), context.Resolve("multi_agent_v1__spawn_agent"));
        Assert.Equal(ToolKind.ToolSearch, context.Resolve("tool_search").Kind);
        Assert.Equal(ToolKind.Function, context.Resolve("exec_command").Kind);
    }

    [Fact]
    public void HostedTools_AreLeftOutAndNamed_NotAnError()
    {
        var result = Bridge(ApiKind.Responses, ApiKind.ChatCompletions).TranslateRequest(System.Text.Encoding.UTF8.GetBytes(CodexBody), Options(ApiKind.Responses));

        Assert.Null(result.Error);
        Assert.Contains("web_search", result.Dropped);
        Assert.Contains("web_search_call", result.Dropped);
    }

    [Fact]
    public void DeepSeekReasoning_SealedInOneTurn_IsRestoredBeforeTheToolCallNextTurn()
    {
        // Turn 1: DeepSeek thinks, then calls a tool; Codex keeps the output items.
        var stream = Events(Stream(ApiKind.Responses, ApiKind.ChatCompletions, ChatTranscripts.DeepSeek));
        var output = stream[^1].Data.GetProperty("response").GetProperty("output");

        // Turn 2: Codex sends them back verbatim with the tool's output.
        var next = $$"""{"model":"m","stream":true,"input":[{"role":"user","content":"list files"},{{output[0].GetRawText()}},{{output[1].GetRawText()}},{"type":"function_call_output","call_id":"call_ds","output":"a.txt"}]}""";
        var (body, _) = Request(ApiKind.Responses, ApiKind.ChatCompletions, next);

        var assistant = body.GetProperty("messages")[1];
        Assert.Equal("assistant", assistant.Str("role"));
        Assert.Equal("I should list the files.", assistant.Str("reasoning_content"));
        Assert.Equal("call_ds", assistant.GetProperty("tool_calls")[0].Str("id"));
    }

    [Fact]
    public void TamperedOrForeignSeal_IsDropped_NotFatal()
    {
        var sealedValue = Seal.Seal(ReasoningOrigin.ChatReasoningContent, "secret plan"u8, default);
        var tampered = sealedValue[..^4] + (sealedValue[^4] == 'A' ? "B" : "A") + sealedValue[^3..];
        var otherDeployment = new ReasoningSeal(new Microsoft.AspNetCore.DataProtection.EphemeralDataProtectionProvider()).Seal(ReasoningOrigin.ChatReasoningContent, "x"u8, default);

        Assert.Equal("secret plan", Seal.Open(sealedValue)!.Text);
        Assert.Null(Seal.Open(tampered));
        Assert.Null(Seal.Open(otherDeployment));
        Assert.Null(Seal.Open("gAAAAABmockencrypted"));
        Assert.Null(Seal.Open(ReasoningSeal.Prefix + "not base64!"));

        var body = $$"""{"model":"m","input":[{"type":"reasoning","summary":[],"encrypted_content":"{{tampered}}"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"ok"}]}""";
        var (chat, _) = Request(ApiKind.Responses, ApiKind.ChatCompletions, body);
        Assert.False(chat.GetProperty("messages")[0].TryGetProperty("reasoning_content", out _));
    }

    [Fact]
    public void PreviousResponseId_IsRefusedWithAClearError()
    {
        var result = Bridge(ApiKind.Responses, ApiKind.ChatCompletions).TranslateRequest("""{"model":"m","previous_response_id":"resp_1","input":"hi"}"""u8, Options(ApiKind.Responses));

        Assert.NotNull(result.Error);
        Assert.Equal(400, result.Error.Status);
        Assert.Equal("previous_response_id", result.Error.Param);
        Assert.Contains("whole conversation", result.Error.Message);
    }

    [Fact]
    public void ChatServersRefuseDanglingCalls_SoACallWithoutResultGetsOne_AndAResultWithoutCallBecomesText()
    {
        var body = """
            {"model":"m","input":[
              {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
              {"role":"user","content":"never mind"},
              {"type":"function_call_output","call_id":"ghost","output":"orphan"}]}
            """;

        var messages = Request(ApiKind.Responses, ApiKind.ChatCompletions, body).Body.GetProperty("messages").EnumerateArray().ToList();

        Assert.Equal(["assistant", "tool", "user", "user"], messages.Select(m => m.Str("role")));
        Assert.Equal("c1", messages[1].Str("tool_call_id"));
        Assert.Contains("orphan", messages[3].Str("content"));
    }

    [Fact]
    public void EffortNone_IsLeftOut_BecauseVllmRefusesIt()
    {
        var body = Request(ApiKind.Responses, ApiKind.ChatCompletions, """{"model":"m","input":"title","reasoning":{"effort":"none","summary":"auto"}}""").Body;

        Assert.False(body.TryGetProperty("reasoning_effort", out _));
    }

    [Fact]
    public void TextFormatJsonSchema_BecomesResponseFormat()
    {
        var body = Request(ApiKind.Responses, ApiKind.ChatCompletions,
            """{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"answer","schema":{"type":"object"},"strict":true}}}""").Body;

        var format = body.GetProperty("response_format");
        Assert.Equal("json_schema", format.Str("type"));
        Assert.Equal("answer", format.GetProperty("json_schema").Str("name"));
        Assert.True(format.GetProperty("json_schema").GetProperty("strict").GetBoolean());
    }

    [Fact]
    public void NonStreamedRequest_HasNoStreamOptions()
    {
        var body = Request(ApiKind.Responses, ApiKind.ChatCompletions, """{"model":"m","input":"x"}""", stream: false).Body;

        Assert.False(body.GetProperty("stream").GetBoolean());
        Assert.False(body.TryGetProperty("stream_options", out _));
    }

    [Fact]
    public void ChatClientOnResponses_StoreFalse_OneLimit_StrictWrittenOut_StopLeftOut()
    {
        var chat = """
            {"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"},
              {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"a.txt"}],
             "tools":[{"type":"function","function":{"name":"bash","description":"Run","parameters":{"type":"object","properties":{"command":{"type":"string"}}}}}],
             "tool_choice":{"type":"function","function":{"name":"bash"}},"max_tokens":32000,"max_completion_tokens":10,"stop":["END"],"reasoning_effort":"medium",
             "stream":true,"stream_options":{"include_usage":true}}
            """;

        var body = Request(ApiKind.ChatCompletions, ApiKind.Responses, chat).Body;

        Assert.False(body.GetProperty("store").GetBoolean());
        Assert.Equal("reasoning.encrypted_content", body.GetProperty("include")[0].GetString());
        Assert.Equal(4096, body.GetProperty("max_output_tokens").GetInt32());
        Assert.False(body.TryGetProperty("max_tokens", out _));
        Assert.False(body.TryGetProperty("stop", out _));
        Assert.False(body.TryGetProperty("stream_options", out _));
        var items = body.GetProperty("input").EnumerateArray().ToList();
        Assert.Equal(["message", "message", "function_call", "function_call_output"], items.Select(i => i.Str("type")));
        Assert.Equal("developer", items[0].Str("role"));
        Assert.Equal(("call_1", "bash"), (items[2].Str("call_id"), items[2].Str("name")));
        var tool = body.GetProperty("tools")[0];
        Assert.Equal(("function", "bash"), (tool.Str("type"), tool.Str("name")));
        Assert.False(tool.GetProperty("strict").GetBoolean());
        Assert.Equal("bash", body.GetProperty("tool_choice").Str("name"));
        Assert.Equal("medium", body.GetProperty("reasoning").Str("effort"));
    }

    [Fact]
    public void ChatRequestForSeveralChoices_IsRefused()
    {
        var result = Bridge(ApiKind.ChatCompletions, ApiKind.Responses).TranslateRequest("""{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}"""u8, Options(ApiKind.ChatCompletions));

        Assert.Equal("n", result.Error?.Param);
    }

    [Fact]
    public void InvalidJson_IsAClientError()
    {
        var result = Bridge(ApiKind.Responses, ApiKind.ChatCompletions).TranslateRequest("""{"model":"m","""u8, Options(ApiKind.Responses));

        Assert.Equal(400, result.Error?.Status);
        Assert.Equal("invalid_json", result.Error?.Code);
    }

    [Fact]
    public void ThinkingModeUpstream_ToolCallTurnsWhoseReasoningIsLost_GetTheFieldEmpty()
    {
        var stream = Events(Stream(ApiKind.Responses, ApiKind.ChatCompletions, ChatTranscripts.DeepSeek));
        var output = stream[^1].Data.GetProperty("response").GetProperty("output");
        var body = $$"""
            {"model":"m","input":[{"role":"user","content":"one"},
              {"type":"function_call","call_id":"old","name":"bash","arguments":"{}"},{"type":"function_call_output","call_id":"old","output":"x"},
              {"role":"user","content":"two"},{{output[0].GetRawText()}},{{output[1].GetRawText()}},
              {"type":"function_call_output","call_id":"call_ds","output":"a.txt"}]}
            """;

        var assistants = Request(ApiKind.Responses, ApiKind.ChatCompletions, body).Body.GetProperty("messages").EnumerateArray()
            .Where(m => m.Str("role") == "assistant").ToList();

        Assert.Equal("", assistants[0].Str("reasoning_content"));
        Assert.Equal("I should list the files.", assistants[1].Str("reasoning_content"));
    }

    [Fact]
    public void WithoutAnyCarriedReasoning_NoReasoningFieldIsWritten()
    {
        var body = Request(ApiKind.Responses, ApiKind.ChatCompletions,
            """{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"x"}]}""").Body;

        Assert.False(body.GetProperty("messages")[0].TryGetProperty("reasoning_content", out _));
    }

    [Fact]
    public void WhatIsLeftOut_IsNamedBoundedAndCounted_SinceTheClientChoosesTheNames()
    {
        var items = string.Join(",", Enumerable.Range(0, 40).Select(i => $$"""{"type":"{{new string('x', 200)}}{{i}}"}"""));

        var result = Bridge(ApiKind.Responses, ApiKind.ChatCompletions).TranslateRequest(System.Text.Encoding.UTF8.GetBytes($$"""{"model":"m","input":[{{items}}]}"""), Options(ApiKind.Responses));

        Assert.Null(result.Error);
        Assert.True(result.Dropped.Count <= 16);
        Assert.All(result.Dropped, d => Assert.True(d.Length <= 40));
    }

    [Theory]
    [InlineData("ChatCompletions", "reasoning_effort")]
    [InlineData("Responses", "reasoning")]
    [InlineData("Messages", "thinking")]
    public void UpstreamThatRefusesReasoning_GetsNone_WhateverTheClientAsked(string upstreamApi, string field)
    {
        var upstream = Enum.Parse<ApiKind>(upstreamApi);
        var client = upstream == ApiKind.Responses ? ApiKind.ChatCompletions : ApiKind.Responses;
        var body = client == ApiKind.Responses
            ? """{"model":"m","input":"x","reasoning":{"effort":"high"}}"""
            : """{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"high"}""";
        var bridge = Bridge(client, upstream);

        var asked = JsonDocument.Parse(bridge.TranslateRequest(System.Text.Encoding.UTF8.GetBytes(body), Options(client)).Body!).RootElement;
        var omitted = JsonDocument.Parse(bridge.TranslateRequest(System.Text.Encoding.UTF8.GetBytes(body), Options(client) with { OmitReasoningEffort = true }).Body!).RootElement;

        Assert.True(asked.TryGetProperty(field, out _));
        Assert.False(omitted.TryGetProperty(field, out _));
    }
}
