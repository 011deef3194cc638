using System.Text;
using System.Text.Json;
using TokenPool.Gateway.Translation;
using TokenPool.Gateway.Translation.Pivot;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Non-streamed answers, translated whole, by the same rules as the streams.</summary>
public sealed class WholeAnswerTests
{
    private const string ChatCompletion = """
        {"id":"chatcmpl-up","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant",
         "content":"Let me look.","reasoning_content":"Need the file list.",
         "tool_calls":[{"id":"call_1","type":"function","function":{"name":"apply_patch","arguments":"{\"input\":\"*** Begin Patch\\n*** End Patch\"}"}},
                       {"id":"call_2","type":"function","function":{"name":"bash","arguments":"{\"command\":\"ls\"}"}}]},
         "finish_reason":"tool_calls"}],
         "usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":5}}}
        """;

    private const string ResponsesObject = """
        {"id":"resp_up","object":"response","created_at":1,"status":"completed","model":"gpt",
         "output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Plan."}],"encrypted_content":"gAAAAABx"},
                   {"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Done \"ok\".","annotations":[]}]},
                   {"type":"function_call","id":"fc_1","call_id":"call_9","name":"bash","arguments":"{\"command\":\"ls\"}","status":"completed"}],
         "usage":{"input_tokens":80,"input_tokens_details":{"cached_tokens":0},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":4},"total_tokens":92}}
        """;

    private const string AnthropicMessage = """
        {"id":"msg_up","type":"message","role":"assistant","model":"claude","content":[
          {"type":"thinking","thinking":"Hmm.","signature":"sig=="},{"type":"text","text":"Here."},
          {"type":"tool_use","id":"toolu_1","name":"bash","input":{"command":"ls"}}],
         "stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":20,"cache_read_input_tokens":30,"output_tokens":7}}
        """;

    private static JsonElement Translate(ApiKind client, ApiKind upstream, string body, BridgeContext? context = null) =>
        JsonDocument.Parse(Bridge(client, upstream).TranslateResponse(Encoding.UTF8.GetBytes(body), Options(client, stream: false, context: context))).RootElement.Clone();

    [Fact]
    public void ChatCompletionForCodex_IsAResponseObject_WithSealedReasoningAndACustomToolCall()
    {
        var context = new BridgeContext(new() { ["apply_patch"] = new ToolOrigin(ToolKind.Custom, null, "apply_patch") });

        var response = Translate(ApiKind.Responses, ApiKind.ChatCompletions, ChatCompletion, context);

        Assert.Equal(("resp_abc", "response", "completed", "client-model"), (response.Str("id"), response.Str("object"), response.Str("status"), response.Str("model")));
        var output = response.GetProperty("output").EnumerateArray().ToList();
        Assert.Equal(["reasoning", "message", "custom_tool_call", "function_call"], output.Select(o => o.Str("type")));
        Assert.Equal("Need the file list.", Seal.Open(output[0].Str("encrypted_content"))!.Text);
        Assert.Equal("Let me look.", output[1].GetProperty("content")[0].Str("text"));
        Assert.Equal("*** Begin Patch\n*** End Patch", output[2].Str("input"));
        Assert.Equal(("call_2", "{\"command\":\"ls\"}"), (output[3].Str("call_id"), output[3].Str("arguments")));
        var usage = response.GetProperty("usage");
        Assert.Equal((100, 40, 20, 5), (usage.GetProperty("input_tokens").GetInt32(), usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32(),
            usage.GetProperty("output_tokens").GetInt32(), usage.GetProperty("output_tokens_details").GetProperty("reasoning_tokens").GetInt32()));
    }

    [Fact]
    public void ChatCompletionCutByLength_IsIncomplete()
    {
        var body = """{"choices":[{"index":0,"message":{"role":"assistant","content":"cut"},"finish_reason":"length"}]}""";

        var response = Translate(ApiKind.Responses, ApiKind.ChatCompletions, body);

        Assert.Equal("incomplete", response.Str("status"));
        Assert.Equal("max_output_tokens", response.GetProperty("incomplete_details").Str("reason"));
    }

    [Fact]
    public void ResponseObjectForAChatClient_IsAChatCompletion()
    {
        var completion = Translate(ApiKind.ChatCompletions, ApiKind.Responses, ResponsesObject);

        Assert.Equal(("chatcmpl-abc", "chat.completion"), (completion.Str("id"), completion.Str("object")));
        var choice = completion.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.Str("finish_reason"));
        var message = choice.GetProperty("message");
        Assert.Equal(("Done \"ok\".", "Plan."), (message.Str("content"), message.Str("reasoning_content")));
        var call = message.GetProperty("tool_calls")[0];
        Assert.Equal(("call_9", "bash", "{\"command\":\"ls\"}"), (call.Str("id"), call.GetProperty("function").Str("name"), call.GetProperty("function").Str("arguments")));
        Assert.Equal(92, completion.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public void ChatCompletionForClaudeCode_IsAMessage_WithSignedThinkingAndToolUse()
    {
        var message = Translate(ApiKind.Messages, ApiKind.ChatCompletions, ChatCompletion);

        Assert.Equal(("msg_abc", "message", "assistant", "client-model"), (message.Str("id"), message.Str("type"), message.Str("role"), message.Str("model")));
        var content = message.GetProperty("content").EnumerateArray().ToList();
        Assert.Equal(["thinking", "text", "tool_use", "tool_use"], content.Select(c => c.Str("type")));
        Assert.Equal("Need the file list.", Seal.Open(content[0].Str("signature"))!.Text);
        Assert.Equal("ls", content[3].GetProperty("input").Str("command"));
        Assert.Equal("tool_use", message.Str("stop_reason"));
        var usage = message.GetProperty("usage");
        Assert.Equal((60, 40, 0, 20), (usage.GetProperty("input_tokens").GetInt32(), usage.GetProperty("cache_read_input_tokens").GetInt32(),
            usage.GetProperty("cache_creation_input_tokens").GetInt32(), usage.GetProperty("output_tokens").GetInt32()));
    }

    [Fact]
    public void AnthropicMessageForCodex_IsAResponseObject_CountingCacheReadsAndWritesAsInput()
    {
        var response = Translate(ApiKind.Responses, ApiKind.Messages, AnthropicMessage);

        var output = response.GetProperty("output").EnumerateArray().ToList();
        Assert.Equal(["reasoning", "message", "function_call"], output.Select(o => o.Str("type")));
        var carry = Seal.Open(output[0].Str("encrypted_content"))!;
        Assert.Equal((ReasoningOrigin.MessagesThinking, "Hmm.", "sig=="), (carry.Origin, carry.Text, carry.Blob));
        Assert.Equal("{\"command\":\"ls\"}", output[2].Str("arguments"));
        var usage = response.GetProperty("usage");
        Assert.Equal((60, 30, 7), (usage.GetProperty("input_tokens").GetInt32(), usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32(), usage.GetProperty("output_tokens").GetInt32()));
    }

    [Fact]
    public void AnthropicMessageForAChatClient_IsAChatCompletion()
    {
        var completion = Translate(ApiKind.ChatCompletions, ApiKind.Messages, AnthropicMessage);

        var message = completion.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal("Here.", message.Str("content"));
        Assert.Equal("toolu_1", message.GetProperty("tool_calls")[0].Str("id"));
        Assert.Equal(60, completion.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public void ResponseObjectForClaudeCode_IsAMessage_WhoseThinkingCarriesTheEncryptedContent()
    {
        var message = Translate(ApiKind.Messages, ApiKind.Responses, ResponsesObject);

        var thinking = message.GetProperty("content")[0];
        Assert.Equal(("thinking", "Plan."), (thinking.Str("type"), thinking.Str("thinking")));
        Assert.Equal("gAAAAABx", Seal.Open(thinking.Str("signature"))!.Blob);
        Assert.Equal("tool_use", message.Str("stop_reason"));
    }

    [Fact]
    public void FailedResponseObject_BecomesTheClientsErrorShape()
    {
        const string failed = """{"id":"r","status":"failed","output":[],"error":{"code":"rate_limit_exceeded","message":"slow down, org-123"}}""";

        var chat = Translate(ApiKind.ChatCompletions, ApiKind.Responses, failed);
        var claude = Translate(ApiKind.Messages, ApiKind.Responses, failed);

        Assert.Equal("rate_limit_exceeded", chat.GetProperty("error").Str("code"));
        Assert.Equal(("error", "rate_limit_error"), (claude.Str("type"), claude.GetProperty("error").Str("type")));
        Assert.DoesNotContain("org-123", chat.GetRawText() + claude.GetRawText());
    }
}
