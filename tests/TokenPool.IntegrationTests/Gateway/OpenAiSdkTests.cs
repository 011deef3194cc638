#pragma warning disable OPENAI001 // The SDK marks its Responses client as evaluation-only; Codex's API is exactly what is tested here.
using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Responses;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Gateway;

/// <summary>Issue 2: the official OpenAI .NET SDK works against TokenPool, streamed, on both APIs.</summary>
public sealed class OpenAiSdkTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private OpenAIClient _client = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        var key = await _gateway.CreateKeyAsync();
        _client = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(_gateway.Address, "v1") });
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task ResponsesStreaming_WithTheOfficialSdk_DeliversTextAndCompletes()
    {
        var responses = _client.GetResponsesClient();
        var options = new CreateResponseOptions { Model = "gpt-5.5", StoredOutputEnabled = false, StreamingEnabled = true };
        options.InputItems.Add(ResponseItem.CreateUserMessageItem("hello from the sdk"));

        var text = new StringBuilder();
        StreamingResponseCompletedUpdate? completed = null;
        await foreach (var update in await responses.CreateResponseStreamingAsync(options))
        {
            switch (update)
            {
                case StreamingResponseOutputTextDeltaUpdate delta:
                    text.Append(delta.Delta);
                    break;
                case StreamingResponseCompletedUpdate done:
                    completed = done;
                    break;
            }
        }

        Assert.NotNull(completed);
        Assert.Contains("hello from the sdk", text.ToString(), StringComparison.Ordinal);
        Assert.True(completed.Response.Usage.InputTokenCount > 0);
        Assert.Equal(1, _gateway.Upstreams[0].RequestCount);
    }

    [Fact]
    public async Task ResponsesStreaming_WithTheOfficialSdk_CompletesAToolCallRoundTrip()
    {
        var responses = _client.GetResponsesClient();
        var shell = ResponseTool.CreateFunctionTool("shell", BinaryData.FromString("""{"type":"object","properties":{"command":{"type":"string"}}}"""), strictModeEnabled: false, "Runs a command");
        var question = ResponseItem.CreateUserMessageItem("Run `ls -la` and tell me what is there.");
        var first = new CreateResponseOptions { Model = "gpt-5.5", StoredOutputEnabled = false, StreamingEnabled = true, Tools = { shell } };
        first.InputItems.Add(question);

        FunctionCallResponseItem? call = null;
        await foreach (var update in await responses.CreateResponseStreamingAsync(first))
        {
            if (update is StreamingResponseOutputItemDoneUpdate { Item: FunctionCallResponseItem done })
            {
                call = done;
            }
        }

        Assert.NotNull(call);
        Assert.Equal("shell", call.FunctionName);
        Assert.Contains("ls -la", call.FunctionArguments.ToString(), StringComparison.Ordinal);

        // The client runs the command and sends its output back with the call, as Codex does.
        var second = new CreateResponseOptions { Model = "gpt-5.5", StoredOutputEnabled = false, StreamingEnabled = true, Tools = { shell } };
        second.InputItems.Add(question);
        second.InputItems.Add(call);
        second.InputItems.Add(ResponseItem.CreateFunctionCallOutputItem(call.CallId, "total 0\nREADME.md"));
        var answer = new StringBuilder();
        var completed = false;
        await foreach (var update in await responses.CreateResponseStreamingAsync(second))
        {
            if (update is StreamingResponseOutputTextDeltaUpdate delta)
            {
                answer.Append(delta.Delta);
            }

            completed |= update is StreamingResponseCompletedUpdate;
        }

        Assert.True(completed);
        Assert.Contains("README.md", answer.ToString(), StringComparison.Ordinal);
        var forwarded = _gateway.Upstreams[0].Requests.Last().Body;
        Assert.Contains("\"function_call_output\"", forwarded, StringComparison.Ordinal);
        Assert.Contains(call.CallId, forwarded, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChatCompletionsStreaming_WithTheOfficialSdk_DeliversTextToolCallsAndUsage()
    {
        var chat = _client.GetChatClient("gpt-5.5");
        var options = new ChatCompletionOptions
        {
            Tools = { ChatTool.CreateFunctionTool("shell", "Runs a command", BinaryData.FromString("""{"type":"object","properties":{"command":{"type":"string"}}}""")) },
        };

        var arguments = new StringBuilder();
        string? toolName = null;
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("[[sim: tool=shell cmd=\"git status\"]]")], options))
        {
            foreach (var call in update.ToolCallUpdates)
            {
                toolName ??= call.FunctionName;
                arguments.Append(call.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal("shell", toolName);
        Assert.Contains("git status", arguments.ToString(), StringComparison.Ordinal);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.NotNull(usage);
        Assert.True(usage.InputTokenCount > 0);

        var plain = new StringBuilder();
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("plain words please")]))
        {
            foreach (var part in update.ContentUpdate)
            {
                plain.Append(part.Text);
            }
        }

        Assert.Contains("plain words please", plain.ToString(), StringComparison.Ordinal);
    }
}
