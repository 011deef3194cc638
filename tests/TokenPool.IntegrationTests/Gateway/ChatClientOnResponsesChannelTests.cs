using System.ClientModel;
using System.Text;
using OpenAI;
using OpenAI.Chat;
using TokenPool.Gateway.Translation;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Gateway;

/// <summary>
/// A Chat Completions client (the official OpenAI .NET SDK) on a channel that serves the model only through the
/// Responses API: the request is carried over the bridge, the answer comes back as Chat chunks with tool-call deltas
/// and the usage chunk (or a whole chat completion), a tool round trip completes, and every request is charged exactly
/// what the upstream reported.
/// </summary>
public sealed class ChatClientOnResponsesChannelTests : IAsyncLifetime
{
    private static readonly ChatTool Shell = ChatTool.CreateFunctionTool("shell", "Runs a command",
        BinaryData.FromString("""{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}"""));

    private TestGateway _gateway = null!;
    private ChatClient _chat = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o => o.ChannelList.Add(new TestChannel { Models = ["gpt-5.5"], Wire = WireSet.Of(ApiKind.Responses) }));
        var key = await _gateway.CreateKeyAsync();
        _chat = new OpenAIClient(new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(_gateway.Address, "v1") }).GetChatClient("gpt-5.5");
    }

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Streamed_AToolCallRoundTrip_ComesBackAsChatChunks_WithUsage_AndIsChargedAsTheUpstreamReported()
    {
        _gateway.Upstreams[0].ClearRequests();
        var options = new ChatCompletionOptions { Tools = { Shell } };
        List<ChatMessage> messages = [new UserChatMessage("Run `git status` and tell me what it says.")];

        var arguments = new StringBuilder();
        string? callId = null;
        string? toolName = null;
        ChatFinishReason? finish = null;
        ChatTokenUsage? usage = null;
        await foreach (var update in _chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var call in update.ToolCallUpdates)
            {
                callId ??= call.ToolCallId;
                toolName ??= call.FunctionName;
                arguments.Append(call.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }

        Assert.Equal("shell", toolName);
        Assert.NotNull(callId);
        Assert.Contains("git status", arguments.ToString(), StringComparison.Ordinal);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.NotNull(usage);

        // The client runs the command and sends the result back with the call.
        messages.Add(new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall(callId, toolName, BinaryData.FromString(arguments.ToString()))]));
        messages.Add(new ToolChatMessage(callId, "On branch main\nnothing to commit, working tree clean"));
        var text = new StringBuilder();
        ChatFinishReason? secondFinish = null;
        await foreach (var update in _chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            secondFinish ??= update.FinishReason;
        }

        Assert.Equal(ChatFinishReason.Stop, secondFinish);
        Assert.NotEmpty(text.ToString());

        var requests = _gateway.Upstreams[0].Requests.ToList();
        Assert.Equal(2, requests.Count);
        Assert.All(requests, r => Assert.Equal("/v1/responses", r.Path));
        Assert.All(requests, r => Assert.Contains("\"store\":false", r.Body, StringComparison.Ordinal));
        Assert.Contains("\"function_call_output\"", requests[1].Body, StringComparison.Ordinal);
        Assert.Equal(requests[0].Reported!.Input, usage.InputTokenCount);
        Assert.Equal(requests[0].Reported!.Output, usage.OutputTokenCount);
        var records = (await _gateway.UsageRecordsAsync()).TakeLast(2).ToList();
        Assert.Equal(
            requests.Select(r => (r.Reported!.Input, r.Reported.Cached, r.Reported.Output, false)),
            records.Select(r => (r.InputTokens, r.CachedInputTokens, r.OutputTokens, r.IsEstimated)));
        Assert.All(records, r => Assert.Equal("chat.completions", r.Endpoint));
    }

    [Fact]
    public async Task NotStreamed_AToolCall_ComesBackAsAWholeChatCompletion()
    {
        _gateway.Upstreams[0].ClearRequests();
        ChatCompletion completion = await _chat.CompleteChatAsync([new UserChatMessage("[[sim: tool=shell cmd=\"ls -la\"]]")], new ChatCompletionOptions { Tools = { Shell } });

        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("shell", call.FunctionName);
        Assert.Contains("ls -la", call.FunctionArguments.ToString(), StringComparison.Ordinal);
        var request = Assert.Single(_gateway.Upstreams[0].Requests);
        Assert.Equal("/v1/responses", request.Path);
        Assert.Equal(request.Reported!.Input, completion.Usage.InputTokenCount);
        Assert.Equal(request.Reported.Output, completion.Usage.OutputTokenCount);
        var record = (await _gateway.UsageRecordsAsync()).Last();
        Assert.Equal((request.Reported.Input, request.Reported.Output, false), (record.InputTokens, record.OutputTokens, record.IsEstimated));
    }
}
