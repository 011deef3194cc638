using System.Text.Json;
using TokenPool.Gateway;
using TokenPool.Gateway.Translation;
using TokenPool.Gateway.Translation.Pivot;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;
using static TokenPool.Tests.Gateway.Translation.ChatTranscripts;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Claude Code (Messages) on Chat Completions and Responses channels: its request and the stream it gets.</summary>
public sealed class MessagesClientTests
{
    /// <summary>Claude Code 2.1.332's body (protocols §10.3), second request of a tool turn (§10.4).</summary>
    private static string ClaudeCodeBody(string thinkingSignature = "c2lnbmF0dXJl") => $$$"""
        {"model":"claude-sonnet-4-5",
         "messages":[
          {"role":"user","content":[{"type":"text","text":"<system-reminder>git status</system-reminder>"},{"type":"text","text":"run echo hi"}]},
          {"role":"system","content":"# Environment\nLinux"},
          {"role":"assistant","content":[{"type":"thinking","thinking":"I should run echo.","signature":"{{{thinkingSignature}}}"},{"type":"text","text":"Running it."},{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"echo hi"}},{"type":"tool_use","id":"toolu_02","name":"Bash","input":{"command":"false"}}]},
          {"role":"user","content":[{"tool_use_id":"toolu_01","type":"tool_result","content":"hi","is_error":false,"cache_control":{"type":"ephemeral"}},
                                    {"type":"tool_result","tool_use_id":"toolu_02","content":[{"type":"text","text":"boom"}],"is_error":true},
                                    {"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]}
         ],
         "system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2.1.332.0b8; cc_entrypoint=sdk-cli;"},
                   {"type":"text","text":"You are a Claude agent.","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Be careful."}],
         "tools":[{"name":"Bash","description":"Runs bash.","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}},
                  {"name":"Deferred","description":"later","input_schema":{"type":"object"},"defer_loading":true},
                  {"type":"web_search_20250305","name":"web_search"}],
         "tool_choice":{"type":"any","disable_parallel_tool_use":true},
         "metadata":{"user_id":"{}"},"max_tokens":32000,"stop_sequences":["STOP"],"temperature":0.2,
         "thinking":{"type":"adaptive","display":"omitted"},"context_management":{"edits":[]},"output_config":{"effort":"high"},"stream":true}
        """;

    [Fact]
    public void ClaudeCodeOnChat_BillingLineDropped_SystemsFirst_ToolsAndResultsMapped()
    {
        var body = Request(ApiKind.Messages, ApiKind.ChatCompletions, ClaudeCodeBody()).Body;

        var messages = body.GetProperty("messages").EnumerateArray().ToList();
        Assert.Equal(["system", "user", "assistant", "tool", "tool", "user"], messages.Select(m => m.Str("role")));
        Assert.Equal("You are a Claude agent.\n\nBe careful.\n\n# Environment\nLinux", messages[0].Str("content"));
        Assert.DoesNotContain("x-anthropic-billing-header", body.GetRawText());
        Assert.DoesNotContain("cache_control", body.GetRawText());
        Assert.Equal("<system-reminder>git status</system-reminder>\n\nrun echo hi", messages[1].Str("content"));
        Assert.Equal("Running it.", messages[2].Str("content"));
        Assert.False(messages[2].TryGetProperty("reasoning_content", out _), "Anthropic's own signature is not TokenPool's seal");
        var call = messages[2].GetProperty("tool_calls")[0];
        Assert.Equal(("toolu_01", "Bash"), (call.Str("id"), call.GetProperty("function").Str("name")));
        Assert.Equal("echo hi", JsonDocument.Parse(call.GetProperty("function").Str("arguments")).RootElement.Str("command"));
        Assert.Equal("hi", messages[3].Str("content"));
        Assert.Equal("Error: boom", messages[4].Str("content"));
        Assert.Equal("data:image/jpeg;base64,/9j/", messages[5].GetProperty("content")[0].GetProperty("image_url").Str("url"));

        Assert.Equal(["Bash", "Deferred"], body.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("function").Str("name")));
        Assert.Equal("required", body.Str("tool_choice"));
        Assert.False(body.GetProperty("parallel_tool_calls").GetBoolean());
        Assert.Equal("STOP", body.GetProperty("stop")[0].GetString());
        Assert.Equal("high", body.Str("reasoning_effort"));
        Assert.Equal(0.2, body.GetProperty("temperature").GetDouble());
        Assert.Equal(4096, body.GetProperty("max_tokens").GetInt32());
        Assert.False(body.TryGetProperty("metadata", out _));
        Assert.False(body.TryGetProperty("thinking", out _));
    }

    [Theory]
    [InlineData("""{"type":"enabled","budget_tokens":31999}""", null, "high")]
    [InlineData("""{"type":"enabled","budget_tokens":8000}""", null, "medium")]
    [InlineData("""{"type":"enabled","budget_tokens":2000}""", null, "low")]
    [InlineData("""{"type":"adaptive"}""", """{"effort":"max"}""", "high")]
    [InlineData("""{"type":"disabled"}""", null, null)]
    public void ThinkingBudgetAndEffort_MapToReasoningEffort(string thinking, string? outputConfig, string? expected)
    {
        var body = Request(ApiKind.Messages, ApiKind.ChatCompletions,
            $$"""{"model":"m","max_tokens":100,"messages":[{"role":"user","content":"x"}],"thinking":{{thinking}}{{(outputConfig is null ? "" : ",\"output_config\":" + outputConfig)}}}""").Body;

        Assert.Equal(expected, body.TryGetProperty("reasoning_effort", out var effort) ? effort.GetString() : null);
    }

    [Fact]
    public void ChatStream_BecomesMessagesEvents_OneBlockAtATime_ExactlyOneMessageDelta()
    {
        var events = Events(Stream(ApiKind.Messages, ApiKind.ChatCompletions, DeepSeek));

        Assert.Equal(
            ["message_start", "ping", "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
             "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
            events.Select(e => e.Data.Type()));
        Assert.All(events, e => Assert.Equal(e.Name, e.Data.Type()));

        var thinking = events[2].Data.GetProperty("content_block");
        Assert.Equal("thinking", thinking.Str("type"));
        Assert.Equal("I should list the files.", string.Concat(events.Where(e => e.Data.Type() == "content_block_delta" && e.Data.GetProperty("delta").Str("type") == "thinking_delta").Select(e => e.Data.GetProperty("delta").Str("thinking"))));
        var signature = events[5].Data.GetProperty("delta");
        Assert.Equal("signature_delta", signature.Str("type"));
        Assert.Equal("I should list the files.", Seal.Open(signature.Str("signature"))!.Text);

        var tool = events[7].Data.GetProperty("content_block");
        Assert.Equal(("tool_use", "call_ds", "bash"), (tool.Str("type"), tool.Str("id"), tool.Str("name")));
        Assert.Equal("{\"command\":\"ls\"}", events[8].Data.GetProperty("delta").Str("partial_json"));
        Assert.Equal([0, 0, 0, 0, 0, 1, 1, 1], events.Where(e => e.Data.TryGetProperty("index", out _)).Select(e => e.Data.GetProperty("index").GetInt32()));

        var delta = events[10].Data;
        Assert.Equal("tool_use", delta.GetProperty("delta").Str("stop_reason"));
        var usage = delta.GetProperty("usage");
        Assert.Equal(388, usage.GetProperty("input_tokens").GetInt32());
        Assert.Equal(512, usage.GetProperty("cache_read_input_tokens").GetInt32());
        Assert.Equal(0, usage.GetProperty("cache_creation_input_tokens").GetInt32());
        Assert.Equal(40, usage.GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public void ThinkingSealedForClaudeCode_IsRestoredAsReasoningContentNextTurn()
    {
        var events = Events(Stream(ApiKind.Messages, ApiKind.ChatCompletions, DeepSeek));
        var signature = events[5].Data.GetProperty("delta").Str("signature");

        var messages = Request(ApiKind.Messages, ApiKind.ChatCompletions, ClaudeCodeBody(signature)).Body.GetProperty("messages");

        Assert.Equal("I should list the files.", messages[2].Str("reasoning_content"));
    }

    [Theory]
    [InlineData("stop", "end_turn")]
    [InlineData("length", "max_tokens")]
    [InlineData("content_filter", "refusal")]
    public void FinishReasons_MapToStopReasons(string finish, string stopReason)
    {
        var events = Events(Stream(ApiKind.Messages, ApiKind.ChatCompletions, Sse(Chunk("\"content\":\"x\""), Chunk("", finish), "[DONE]")));

        Assert.Equal(stopReason, events.Single(e => e.Data.Type() == "message_delta").Data.GetProperty("delta").Str("stop_reason"));
    }

    [Fact]
    public void VllmStopReasonNamingACallersSequence_IsStopSequence()
    {
        var context = new BridgeContext(stopSequences: ["STOP"]);
        var upstream = Sse(Chunk("\"content\":\"x\""), """{"choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":"STOP"}]}""", "[DONE]");

        var delta = Events(Stream(ApiKind.Messages, ApiKind.ChatCompletions, upstream, context: context)).Single(e => e.Data.Type() == "message_delta").Data.GetProperty("delta");

        Assert.Equal(("stop_sequence", "STOP"), (delta.Str("stop_reason"), delta.Str("stop_sequence")));
    }

    [Fact]
    public void RepeatedFinishReasons_StillGiveExactlyOneMessageDelta()
    {
        var upstream = Sse(Chunk("\"content\":\"x\""), Chunk("", "stop"), Chunk("", "stop"), Usage("\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6"), "[DONE]");

        var events = Events(Stream(ApiKind.Messages, ApiKind.ChatCompletions, upstream));

        Assert.Single(events, e => e.Data.Type() == "message_delta");
        Assert.Equal(5, events.Single(e => e.Data.Type() == "message_delta").Data.GetProperty("usage").GetProperty("input_tokens").GetInt32());
    }

    [Fact]
    public void ASecondCallStartingMidCall_WaitsUntilTheFirstBlockIsClosed()
    {
        var upstream = Sse(
            Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"A\",\"arguments\":\"{\\\"x\\\"\"}}]"),
            Chunk("\"tool_calls\":[{\"index\":1,\"id\":\"b\",\"function\":{\"name\":\"B\",\"arguments\":\"{\\\"y\\\"\"}}]"),
            Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]"),
            Chunk("\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\":2}\"}}]"),
            Chunk("", "tool_calls"), "[DONE]");

        var events = Events(Stream(ApiKind.Messages, ApiKind.ChatCompletions, upstream));

        var blocks = events.Where(e => e.Data.Type() is "content_block_start" or "content_block_stop").Select(e => (e.Data.Type(), e.Data.GetProperty("index").GetInt32())).ToList();
        Assert.Equal([("content_block_start", 0), ("content_block_stop", 0), ("content_block_start", 1), ("content_block_stop", 1)], blocks);
        string Input(int index) => string.Concat(events.Where(e => e.Data.Type() == "content_block_delta" && e.Data.GetProperty("index").GetInt32() == index).Select(e => e.Data.GetProperty("delta").Str("partial_json")));
        Assert.Equal("{\"x\":1}", Input(0));
        Assert.Equal("{\"y\":2}", Input(1));
    }

    [Fact]
    public void UpstreamErrorMidText_ClosesTheOpenBlock_ThenSendsErrorWithoutMessageDelta()
    {
        var upstream = Sse(Chunk("\"content\":\"partial\""), """{"error":{"message":"overloaded","type":"server_error","code":503}}""");

        var events = Events(Stream(ApiKind.Messages, ApiKind.ChatCompletions, upstream));

        Assert.Equal(["message_start", "ping", "content_block_start", "content_block_delta", "content_block_stop", "error"], events.Select(e => e.Data.Type()));
        Assert.Equal("api_error", events[^1].Data.GetProperty("error").Str("type"));
        Assert.DoesNotContain(events, e => e.Data.Type() is "message_delta" or "message_stop");
    }

    [Fact]
    public void ClaudeCodeOnResponses_StoreFalse_ThinkingOff_ImagesAndErrorsCarried()
    {
        var body = Request(ApiKind.Messages, ApiKind.Responses, ClaudeCodeBody()).Body;

        Assert.False(body.GetProperty("store").GetBoolean());
        Assert.Equal("You are a Claude agent.\n\nBe careful.", body.Str("instructions"));
        var items = body.GetProperty("input").EnumerateArray().ToList();
        Assert.Equal(["message", "message", "message", "function_call", "function_call", "function_call_output", "function_call_output", "message"], items.Select(i => i.Str("type")));
        Assert.Equal("developer", items[1].Str("role"));
        Assert.Equal("Error: boom", items[6].Str("output"));
        Assert.Equal("input_image", items[7].GetProperty("content")[0].Str("type"));
        Assert.Equal("high", body.GetProperty("reasoning").Str("effort"));
        Assert.Equal("auto", body.GetProperty("reasoning").Str("summary"));
    }

    [Fact]
    public void ResponsesStream_BecomesMessagesEvents_WithTheReasoningSealedForTheNextTurn()
    {
        var events = Events(Stream(ApiKind.Messages, ApiKind.Responses, ResponsesTranscripts.ToolTurn));

        Assert.Equal("thinking", events[2].Data.GetProperty("content_block").Str("type"));
        var signature = events.Single(e => e.Data.Type() == "content_block_delta" && e.Data.GetProperty("delta").Str("type") == "signature_delta").Data.GetProperty("delta").Str("signature");
        var carry = Seal.Open(signature)!;
        Assert.Equal((ReasoningOrigin.Responses, "**Thinking** about it", "gAAAAABreal"), (carry.Origin, carry.Text, carry.Blob));
        Assert.Equal("tool_use", events.Single(e => e.Data.Type() == "message_delta").Data.GetProperty("delta").Str("stop_reason"));

        // Next turn the encrypted content goes back to the Responses channel as it came.
        var next = Request(ApiKind.Messages, ApiKind.Responses, ClaudeCodeBody(signature)).Body;
        var reasoning = next.GetProperty("input").EnumerateArray().Single(i => i.Str("type") == "reasoning");
        Assert.Equal("gAAAAABreal", reasoning.Str("encrypted_content"));
    }

    [Fact]
    public void ClaudeCodeOnMessagesStyleErrors_UseAnthropicTypes()
    {
        Assert.Equal("rate_limit_error", TokenPool.Gateway.Translation.Messages.MessagesStreamWriter.ErrorType(new ApiError(502, "x", "rate_limit_exceeded", "m")));
        Assert.Equal("overloaded_error", TokenPool.Gateway.Translation.Messages.MessagesStreamWriter.ErrorType(new ApiError(529, "x", "server_is_overloaded", "m")));
        Assert.Equal("api_error", TokenPool.Gateway.Translation.Messages.MessagesStreamWriter.ErrorType(GatewayErrors.StreamCut()));
    }
}
