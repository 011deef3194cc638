using System.Text.Json;
using TokenPool.Gateway;
using TokenPool.Gateway.Translation;
using TokenPool.Gateway.Translation.Pivot;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;
using static TokenPool.Tests.Gateway.Translation.ChatTranscripts;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Codex and OpenCode (Responses) on a Chat Completions upstream: the stream they get.</summary>
public sealed class ResponsesClientOnChatUpstreamTests
{
    private static List<(string? Name, JsonElement Data)> Translate(byte[] upstream, BridgeContext? context = null, ApiError? failure = null) =>
        Events(Stream(ApiKind.Responses, ApiKind.ChatCompletions, upstream, context: context, failure: failure));

    [Fact]
    public void TextAnswer_OpensStreamsAndClosesOneMessageItem_ThenCompletes()
    {
        var events = Translate(TextOnly);

        Assert.Equal(
            ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
             "response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
             "response.output_item.done", "response.completed"],
            events.Select(e => e.Data.Type()));
        Assert.All(events, e => Assert.Equal(e.Name, e.Data.Type()));
        Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => e.Data.GetProperty("sequence_number").GetInt32()));

        var done = events.Single(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");
        Assert.Equal("Hello wörld 😀", done.GetProperty("content")[0].Str("text"));
        Assert.Equal("completed", done.Str("status"));

        var completed = events[^1].Data.GetProperty("response");
        Assert.Equal("resp_abc", completed.Str("id"));
        Assert.Equal("client-model", completed.Str("model"));
        Assert.Equal("completed", completed.Str("status"));
        Assert.Equal(done.GetRawText(), completed.GetProperty("output")[0].GetRawText());
        Assert.Equal(JsonValueKind.Null, completed.GetProperty("usage").ValueKind);
    }

    [Fact]
    public void VllmReasoningTextAndToolCall_BecomeThreeItemsInOrder_WithThisRequestsUsage()
    {
        var events = Translate(Vllm);

        var added = events.Where(e => e.Data.Type() == "response.output_item.added").Select(e => e.Data.GetProperty("item")).ToList();
        Assert.Equal(["reasoning", "message", "function_call"], added.Select(i => i.Str("type")));
        var done = events.Where(e => e.Data.Type() == "response.output_item.done").Select(e => e.Data).ToList();
        Assert.Equal([0, 1, 2], done.Select(d => d.GetProperty("output_index").GetInt32()));
        Assert.Equal(added.Select(i => i.Str("id")), done.Select(d => d.GetProperty("item").Str("id")));

        var reasoning = done[0].GetProperty("item");
        Assert.Equal("Let me run it.", reasoning.GetProperty("summary")[0].Str("text"));
        Assert.Equal("Running \"echo\"", done[1].GetProperty("item").GetProperty("content")[0].Str("text"));

        var call = done[2].GetProperty("item");
        Assert.Equal("call_v1", call.Str("call_id"));
        Assert.Equal("exec_command", call.Str("name"));
        Assert.Equal("{\"cmd\": \"echo hi\"}", call.Str("arguments"));
        var argumentDeltas = events.Where(e => e.Data.Type() == "response.function_call_arguments.delta").Select(e => e.Data.Str("delta"));
        Assert.Equal("{\"cmd\": \"echo hi\"}", string.Concat(argumentDeltas));
        Assert.Equal("{\"cmd\": \"echo hi\"}", events.Single(e => e.Data.Type() == "response.function_call_arguments.done").Data.Str("arguments"));

        var summaryDeltas = events.Where(e => e.Data.Type() == "response.reasoning_summary_text.delta").ToList();
        Assert.All(summaryDeltas, d => Assert.Equal(0, d.Data.GetProperty("summary_index").GetInt32()));

        var usage = events[^1].Data.GetProperty("response").GetProperty("usage");
        Assert.Equal(120, usage.GetProperty("input_tokens").GetInt32());
        Assert.Equal(64, usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.Equal(30, usage.GetProperty("output_tokens").GetInt32());
        Assert.Equal(150, usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal(3, events[^1].Data.GetProperty("response").GetProperty("output").GetArrayLength());
    }

    [Fact]
    public void DeepSeekReasoning_IsSealedIntoEncryptedContent_ThatOpensToTheExactText()
    {
        var events = Translate(DeepSeek);

        var reasoning = events.First(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");
        var sealedValue = reasoning.Str("encrypted_content");
        Assert.StartsWith(ReasoningSeal.Prefix, sealedValue);
        Assert.DoesNotContain("list", sealedValue);

        var carry = Seal.Open(sealedValue);
        Assert.NotNull(carry);
        Assert.Equal(ReasoningOrigin.ChatReasoningContent, carry.Origin);
        Assert.Equal("I should list the files.", carry.Text);

        var usage = events[^1].Data.GetProperty("response").GetProperty("usage");
        Assert.Equal(512, usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.Equal(25, usage.GetProperty("output_tokens_details").GetProperty("reasoning_tokens").GetInt32());
    }

    [Fact]
    public void OllamaWholeToolCall_WithFinishStop_IsAFunctionCallAndCompletes()
    {
        var events = Translate(Ollama);

        var call = events.Last(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");
        Assert.Equal("function_call", call.Str("type"));
        Assert.Equal("call_o1", call.Str("call_id"));
        Assert.Equal("{\"path\":\"a.txt\"}", call.Str("arguments"));
        Assert.Equal("response.completed", events[^1].Data.Type());
        Assert.Equal(50, events[^1].Data.GetProperty("response").GetProperty("usage").GetProperty("input_tokens").GetInt32());
    }

    [Fact]
    public void ArgumentsBeforeTheName_AreHeldUntilTheNameArrives()
    {
        var upstream = Sse(
            Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":\"}}]"),
            Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"call_late\",\"function\":{\"name\":\"f\",\"arguments\":\"1}\"}}]"),
            Chunk("", "tool_calls"),
            "[DONE]");

        var events = Translate(upstream);

        var call = events.Single(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");
        Assert.Equal(("f", "call_late", "{\"a\":1}"), (call.Str("name"), call.Str("call_id"), call.Str("arguments")));
        Assert.Equal("{\"a\":1}", string.Concat(events.Where(e => e.Data.Type() == "response.function_call_arguments.delta").Select(e => e.Data.Str("delta"))));
        Assert.True(events.FindIndex(e => e.Data.Type() == "response.output_item.added") < events.FindIndex(e => e.Data.Type() == "response.function_call_arguments.delta"));
    }

    [Fact]
    public void ParallelCallsByIndex_BecomeSeparateItems_EvenWhenTheirFragmentsInterleave()
    {
        var upstream = Sse(
            Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"c0\",\"function\":{\"name\":\"a\",\"arguments\":\"{\\\"x\\\"\"}},{\"index\":1,\"id\":\"c1\",\"function\":{\"name\":\"b\",\"arguments\":\"{\\\"y\\\"\"}}]"),
            Chunk("\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\":2}\"}}]"),
            Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]"),
            Chunk("", "tool_calls"),
            "[DONE]");

        var events = Translate(upstream);

        var calls = events.Where(e => e.Data.Type() == "response.output_item.done").Select(e => e.Data.GetProperty("item")).ToList();
        Assert.Equal([("a", "{\"x\":1}"), ("b", "{\"y\":2}")], calls.Select(c => (c.Str("name"), c.Str("arguments"))));
    }

    [Fact]
    public void MissingCallId_IsMadeUpAndStable()
    {
        var upstream = Sse(Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]"), Chunk("", "tool_calls"), "[DONE]");

        var call = Translate(upstream).Single(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");

        Assert.Equal("call_abc_0", call.Str("call_id"));
    }

    [Fact]
    public void CustomTool_ComesBackAsCustomToolCall_WithInputDeltasDecodedFromTheArguments()
    {
        var context = new BridgeContext(new() { ["apply_patch"] = new ToolOrigin(ToolKind.Custom, null, "apply_patch") });
        // The patch's JSON arguments, cut mid-escape and mid-key: {"input":"*** Begin Patch\n+hi \"x\"\n*** End Patch"}
        var upstream = Sse(
            Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"call_p\",\"function\":{\"name\":\"apply_patch\",\"arguments\":\"{\\\"inp\"}}]"),
            Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ut\\\": \\\"*** Begin Patch\\\\\"}}]"),
            Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"n+hi \\\\\\\"x\\\\\\\"\\\\n*** End Patch\\\"}\"}}]"),
            Chunk("", "tool_calls"),
            "[DONE]");

        var events = Translate(upstream, context);

        var item = events.Single(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");
        Assert.Equal("custom_tool_call", item.Str("type"));
        Assert.Equal("apply_patch", item.Str("name"));
        Assert.Equal("call_p", item.Str("call_id"));
        Assert.Equal("*** Begin Patch\n+hi \"x\"\n*** End Patch", item.Str("input"));
        var deltas = events.Where(e => e.Data.Type() == "response.custom_tool_call_input.delta").Select(e => e.Data.Str("delta")).ToList();
        Assert.True(deltas.Count >= 2, "the input streams in pieces");
        Assert.Equal(item.Str("input"), string.Concat(deltas));
        Assert.Equal(item.Str("input"), events.Single(e => e.Data.Type() == "response.custom_tool_call_input.done").Data.Str("input"));
        Assert.DoesNotContain(events, e => e.Data.Type().StartsWith("response.function_call_arguments", StringComparison.Ordinal));
    }

    [Fact]
    public void CustomToolWhoseArgumentsAreNotTheInputObject_StillGetsItsWholeInput()
    {
        var context = new BridgeContext(new() { ["apply_patch"] = new ToolOrigin(ToolKind.Custom, null, "apply_patch") });
        var upstream = Sse(
            Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"apply_patch\",\"arguments\":\"*** Begin Patch\\n\"}}]"),
            Chunk("", "tool_calls"),
            "[DONE]");

        var item = Translate(upstream, context).Single(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");

        Assert.Equal("*** Begin Patch\n", item.Str("input"));
    }

    [Fact]
    public void NamespacedFunction_ComesBackWithItsOwnNameAndNamespace()
    {
        var context = new BridgeContext(new() { ["multi_agent_v1__spawn_agent"] = new ToolOrigin(ToolKind.Function, "multi_agent_v1", "spawn_agent") });
        var upstream = Sse(Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"multi_agent_v1__spawn_agent\",\"arguments\":\"{}\"}}]"), Chunk("", "tool_calls"), "[DONE]");

        var item = Translate(upstream, context).Single(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");

        Assert.Equal(("spawn_agent", "multi_agent_v1"), (item.Str("name"), item.Str("namespace")));
    }

    [Fact]
    public void ToolSearch_ComesBackAsAClientToolSearchCall_WithItsArgumentsAsAnObject()
    {
        var context = new BridgeContext(new() { ["tool_search"] = new ToolOrigin(ToolKind.ToolSearch, null, "tool_search") });
        var upstream = Sse(Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"tool_search\",\"arguments\":\"{\\\"query\\\":\\\"calendar\\\",\\\"limit\\\":2}\"}}]"), Chunk("", "tool_calls"), "[DONE]");

        var item = Translate(upstream, context).Single(e => e.Data.Type() == "response.output_item.done").Data.GetProperty("item");

        Assert.Equal("tool_search_call", item.Str("type"));
        Assert.Equal("client", item.Str("execution"));
        Assert.Equal("calendar", item.GetProperty("arguments").Str("query"));
        Assert.Equal(2, item.GetProperty("arguments").GetProperty("limit").GetInt32());
    }

    [Fact]
    public void FinishLength_EndsAsIncomplete_WithMaxOutputTokens()
    {
        var events = Translate(Sse(Chunk("\"content\":\"cut\""), Chunk("", "length"), "[DONE]"));

        Assert.Equal("response.incomplete", events[^1].Data.Type());
        var response = events[^1].Data.GetProperty("response");
        Assert.Equal("incomplete", response.Str("status"));
        Assert.Equal("max_output_tokens", response.GetProperty("incomplete_details").Str("reason"));
        Assert.Equal("cut", response.GetProperty("output")[0].GetProperty("content")[0].Str("text"));
    }

    [Fact]
    public void UsageOnEveryChunk_TheLastFigureIsWritten_NotTheSum()
    {
        var upstream = Sse(
            """{"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":10,"completion_tokens":1,"total_tokens":11}}""",
            """{"choices":[{"index":0,"delta":{"content":"b"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}}""",
            """{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}""",
            "[DONE]");

        var usage = Translate(upstream)[^1].Data.GetProperty("response").GetProperty("usage");

        Assert.Equal((10, 3), (usage.GetProperty("input_tokens").GetInt32(), usage.GetProperty("output_tokens").GetInt32()));
    }

    [Fact]
    public void NoDoneMarkerAfterTheFinishReason_StillCompletes()
    {
        var events = Translate(Sse(Chunk("\"content\":\"hi\""), Chunk("", "stop")));

        Assert.Equal("response.completed", events[^1].Data.Type());
    }

    [Fact]
    public void DeepSeekInsufficientSystemResource_FailsRetryably()
    {
        var events = Translate(Sse(Chunk("\"content\":\"par\""), Chunk("", "insufficient_system_resource"), "[DONE]"));

        Assert.Equal("response.failed", events[^1].Data.Type());
        Assert.Equal("server_error", events[^1].Data.GetProperty("response").GetProperty("error").Str("code"));
    }

    [Fact]
    public void RunningTotalsOverAConversation_AreNotWrittenAsThisRequestsUsage()
    {
        // The request as the bridge wrote it upstream: its size bounds what its input can be.
        var request = Bridge(ApiKind.Responses, ApiKind.ChatCompletions).TranslateRequest("""{"model":"m","input":"say hi"}"""u8, Options(ApiKind.Responses));
        var upstream = Sse(Chunk("\"content\":\"hi\""), Chunk("", "stop"),
            Usage("\"prompt_tokens\":1800000,\"completion_tokens\":900000,\"total_tokens\":2700000,\"prompt_tokens_details\":{\"cached_tokens\":1700000}"), "[DONE]");

        var usage = Translate(upstream, request.Context)[^1].Data.GetProperty("response").GetProperty("usage");

        Assert.Equal(request.Context!.EstimatedInputTokens, usage.GetProperty("input_tokens").GetInt64());
        Assert.True(usage.GetProperty("input_tokens").GetInt64() is > 0 and < 1000);
        Assert.True(usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt64() <= usage.GetProperty("input_tokens").GetInt64());
        Assert.Equal(4096, usage.GetProperty("output_tokens").GetInt64());
    }

    [Fact]
    public void PlausibleUsage_IsWrittenExactlyAsReported()
    {
        var request = Bridge(ApiKind.Responses, ApiKind.ChatCompletions).TranslateRequest("""{"model":"m","input":"say hi"}"""u8, Options(ApiKind.Responses));
        var upstream = Sse(Chunk("\"content\":\"hi\""), Chunk("", "stop"), Usage("\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15"), "[DONE]");

        var usage = Translate(upstream, request.Context)[^1].Data.GetProperty("response").GetProperty("usage");

        Assert.Equal((12, 3), (usage.GetProperty("input_tokens").GetInt32(), usage.GetProperty("output_tokens").GetInt32()));
    }

    [Fact]
    public void TheResponseIsAnnouncedAtTheUpstreamsFirstBytes_BeforeAnyContent()
    {
        using var translator = Bridge(ApiKind.Responses, ApiKind.ChatCompletions).StartStream(Options(ApiKind.Responses));
        var output = new System.Buffers.ArrayBufferWriter<byte>();

        translator.Write(Sse(Chunk("\"role\":\"assistant\",\"content\":\"\"")), output);

        Assert.Equal(["response.created", "response.in_progress"], Events(System.Text.Encoding.UTF8.GetString(output.WrittenSpan)).Select(e => e.Data.Type()));
    }
}
