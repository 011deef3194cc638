using TokenPool.Gateway.Translation;
using TokenPool.Gateway.Translation.Pivot;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Chat clients on Responses channels, and Codex or Chat clients on Anthropic channels: the streams they get.</summary>
public sealed class OtherDirectionsStreamTests
{
    [Fact]
    public void ChatClientOnResponses_GetsChunksWithToolCallDeltas_TheUsageChunkItAskedFor_AndDone()
    {
        var events = Events(Stream(ApiKind.ChatCompletions, ApiKind.Responses, ResponsesTranscripts.ToolTurn, wantsUsage: true));

        Assert.All(events, e => Assert.Null(e.Name));
        Assert.Equal(default, events[^1].Data);
        var chunks = events.Take(events.Count - 1).Select(e => e.Data).ToList();
        Assert.All(chunks, c => Assert.Equal(("chatcmpl-abc", "chat.completion.chunk", "client-model"), (c.Str("id"), c.Str("object"), c.Str("model"))));
        Assert.Equal("assistant", chunks[0].GetProperty("choices")[0].GetProperty("delta").Str("role"));
        var deltas = chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0].GetProperty("delta")).ToList();
        Assert.Equal("**Thinking** about it", string.Concat(deltas.Where(d => d.TryGetProperty("reasoning_content", out _)).Select(d => d.Str("reasoning_content"))));
        Assert.Equal("Running \"it\".", string.Concat(deltas.Where(d => d.TryGetProperty("content", out _)).Select(d => d.Str("content"))));
        var calls = deltas.Where(d => d.TryGetProperty("tool_calls", out _)).Select(d => d.GetProperty("tool_calls")[0]).ToList();
        Assert.Equal(("call_abc", "Bash"), (calls[0].Str("id"), calls[0].GetProperty("function").Str("name")));
        Assert.All(calls, c => Assert.Equal(0, c.GetProperty("index").GetInt32()));
        Assert.Equal("{\"command\": \"echo hi\"}", string.Concat(calls.Select(c => c.GetProperty("function").Str("arguments"))));

        var finish = chunks[^2].GetProperty("choices")[0];
        Assert.Equal("tool_calls", finish.Str("finish_reason"));
        var usage = chunks[^1];
        Assert.Equal(0, usage.GetProperty("choices").GetArrayLength());
        Assert.Equal((120, 64, 30, 150), (usage.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(),
            usage.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32(),
            usage.GetProperty("usage").GetProperty("completion_tokens").GetInt32(), usage.GetProperty("usage").GetProperty("total_tokens").GetInt32()));
    }

    [Fact]
    public void ChatClientThatDidNotAskForUsage_GetsNoUsageChunk()
    {
        var events = Events(Stream(ApiKind.ChatCompletions, ApiKind.Responses, ResponsesTranscripts.ToolTurn, wantsUsage: false));

        Assert.DoesNotContain(events.Take(events.Count - 1), e => e.Data.TryGetProperty("usage", out _));
    }

    [Fact]
    public void CodexOnMessages_ThinkingTextAndToolUse_BecomeReasoningMessageAndFunctionCall_WithAnthropicCacheUsage()
    {
        var events = Events(Stream(ApiKind.Responses, ApiKind.Messages, MessagesTranscripts.ToolTurn));

        var items = events.Where(e => e.Data.Type() == "response.output_item.done").Select(e => e.Data.GetProperty("item")).ToList();
        Assert.Equal(["reasoning", "message", "function_call"], items.Select(i => i.Str("type")));
        var carry = Seal.Open(items[0].Str("encrypted_content"))!;
        Assert.Equal((ReasoningOrigin.MessagesThinking, "I should run echo.", "c2lnbmF0dXJl"), (carry.Origin, carry.Text, carry.Blob));
        Assert.Equal(("toolu_01", "exec_command", "{\"cmd\": \"echo hi\"}"), (items[2].Str("call_id"), items[2].Str("name"), items[2].Str("arguments")));

        var usage = events[^1].Data.GetProperty("response").GetProperty("usage");
        Assert.Equal(162, usage.GetProperty("input_tokens").GetInt32());
        Assert.Equal(100, usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.Equal(30, usage.GetProperty("output_tokens").GetInt32());
    }

    [Fact]
    public void CodexOnMessages_ThinkingSignatureGoesBackToAnthropicNextTurn_AndThinkingStaysOn()
    {
        var events = Events(Stream(ApiKind.Responses, ApiKind.Messages, MessagesTranscripts.ToolTurn));
        var output = events[^1].Data.GetProperty("response").GetProperty("output");
        var next = "{\"model\":\"m\",\"reasoning\":{\"effort\":\"high\"},\"input\":[{\"role\":\"user\",\"content\":\"run it\"},"
            + output[0].GetRawText() + "," + output[1].GetRawText() + "," + output[2].GetRawText()
            + ",{\"type\":\"function_call_output\",\"call_id\":\"toolu_01\",\"output\":\"hi\"}]}";

        var body = Request(ApiKind.Responses, ApiKind.Messages, next).Body;

        var assistant = body.GetProperty("messages")[1];
        Assert.Equal("assistant", assistant.Str("role"));
        var blocks = assistant.GetProperty("content").EnumerateArray().ToList();
        Assert.Equal(["thinking", "text", "tool_use"], blocks.Select(b => b.Str("type")));
        Assert.Equal(("I should run echo.", "c2lnbmF0dXJl"), (blocks[0].Str("thinking"), blocks[0].Str("signature")));
        Assert.Equal("echo hi", blocks[2].GetProperty("input").Str("cmd"));
        var result = body.GetProperty("messages")[2].GetProperty("content")[0];
        Assert.Equal(("tool_result", "toolu_01"), (result.Str("type"), result.Str("tool_use_id")));
        Assert.Equal("enabled", body.GetProperty("thinking").Str("type"));
        Assert.True(body.GetProperty("thinking").GetProperty("budget_tokens").GetInt32() < body.GetProperty("max_tokens").GetInt32());
    }

    [Fact]
    public void CodexOnMessages_WithoutRestorableThinking_ThinkingIsTurnedOffForTheToolTurn()
    {
        var body = Request(ApiKind.Responses, ApiKind.Messages, """
            {"model":"m","reasoning":{"effort":"high"},"temperature":1.5,"input":[{"role":"user","content":"x"},
             {"type":"reasoning","summary":[],"encrypted_content":"gAAAAABforeign"},
             {"type":"function_call","call_id":"functions.bash:0","name":"bash","arguments":"{}"},
             {"type":"function_call_output","call_id":"functions.bash:0","output":"ok"}]}
            """).Body;

        Assert.False(body.TryGetProperty("thinking", out _));
        Assert.Equal(1.0, body.GetProperty("temperature").GetDouble());
        Assert.Equal("functions_bash_0", body.GetProperty("messages")[1].GetProperty("content")[0].Str("id"));
        Assert.Equal("functions_bash_0", body.GetProperty("messages")[2].GetProperty("content")[0].Str("tool_use_id"));
    }

    [Fact]
    public void ChatClientOnMessages_GetsReasoningContentTextToolCallsAndUsage()
    {
        var events = Events(Stream(ApiKind.ChatCompletions, ApiKind.Messages, MessagesTranscripts.ToolTurn, wantsUsage: true));

        var chunks = events.Take(events.Count - 1).Select(e => e.Data).ToList();
        Assert.Equal("tool_calls", chunks[^2].GetProperty("choices")[0].Str("finish_reason"));
        Assert.Equal(162, chunks[^1].GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }
}
