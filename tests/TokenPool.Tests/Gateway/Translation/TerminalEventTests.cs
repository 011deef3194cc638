using System.Text;
using TokenPool.Gateway;
using TokenPool.Gateway.Translation;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>
/// An upstream that fails or is cut at any stage before it says why it stopped (before its first byte, after it
/// started, mid-reasoning, mid-text, mid-call) ends the client's stream with its API's terminal error, never with a
/// success; one that said why it stopped and then closed early gave a whole answer, which completes.
/// </summary>
public sealed class TerminalEventTests
{
    public static TheoryData<string, string, int> Stages()
    {
        var data = new TheoryData<string, string, int>();
        foreach (var (client, upstream) in new[]
        {
            (ApiKind.Responses, ApiKind.ChatCompletions), (ApiKind.Messages, ApiKind.ChatCompletions), (ApiKind.ChatCompletions, ApiKind.Responses),
            (ApiKind.Messages, ApiKind.Responses), (ApiKind.Responses, ApiKind.Messages), (ApiKind.ChatCompletions, ApiKind.Messages),
        })
        {
            for (var stage = 0; stage <= FinishEvent(upstream); stage++)
            {
                data.Add(client.ToString(), upstream.ToString(), stage);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Stages))]
    public void UpstreamCutAtAnyStage_EndsWithTheClientsTerminalError(string clientApi, string upstreamApi, int stage)
    {
        var (client, upstream) = (Enum.Parse<ApiKind>(clientApi), Enum.Parse<ApiKind>(upstreamApi));
        var prefix = Prefix(upstream, stage);
        var stream = Stream(client, upstream, prefix);

        AssertEndsInError(client, stream, "server_error");
    }

    [Theory]
    [MemberData(nameof(Stages))]
    public void UpstreamErrorEventAtAnyStage_EndsWithTheClientsTerminalError_KeepingItsCode(string clientApi, string upstreamApi, int stage)
    {
        var (client, upstream) = (Enum.Parse<ApiKind>(clientApi), Enum.Parse<ApiKind>(upstreamApi));
        byte[] error = upstream switch
        {
            ApiKind.ChatCompletions => Sse("""{"error":{"message":"Too many requests for org-secret","type":"rate_limit_error","code":"rate_limit_exceeded"}}"""),
            ApiKind.Responses => NamedSse(("response.failed", """{"type":"response.failed","sequence_number":99,"response":{"id":"r","status":"failed","error":{"code":"rate_limit_exceeded","message":"Too many requests for org-secret"}}}""")),
            _ => NamedSse(("error", """{"type":"error","error":{"type":"rate_limit_error","message":"Too many requests for org-secret"}}""")),
        };

        var stream = Stream(client, upstream, [.. Prefix(upstream, stage), .. error]);

        AssertEndsInError(client, stream, "rate_limit_exceeded");
        Assert.DoesNotContain("org-secret", stream);
    }

    [Theory]
    [InlineData("Responses", "ChatCompletions")]
    [InlineData("Messages", "ChatCompletions")]
    [InlineData("ChatCompletions", "Responses")]
    public void FailureGivenByTheGateway_AfterAFinishedAnswer_IsStillTheTerminalEvent(string clientApi, string upstreamApi)
    {
        var (client, upstream) = (Enum.Parse<ApiKind>(clientApi), Enum.Parse<ApiKind>(upstreamApi));
        var whole = upstream == ApiKind.ChatCompletions ? ChatTranscripts.Vllm : ResponsesTranscripts.ToolTurn;
        var events = Events(upstream);
        var stream = Stream(client, upstream, Encoding.UTF8.GetBytes(string.Concat(events.Take(events.Length - 1))), failure: GatewayErrors.StreamIdle(TimeSpan.FromSeconds(300)));

        AssertEndsInError(client, stream, "server_error");
        Assert.NotEmpty(whole);
    }

    [Theory]
    [InlineData("Responses", "ChatCompletions")]
    [InlineData("Messages", "ChatCompletions")]
    [InlineData("ChatCompletions", "Messages")]
    [InlineData("Responses", "Messages")]
    public void UpstreamThatSaidWhyItStopped_ButClosedBeforeItsEnd_CompletesWithTheAnswerItGave(string clientApi, string upstreamApi)
    {
        var (client, upstream) = (Enum.Parse<ApiKind>(clientApi), Enum.Parse<ApiKind>(upstreamApi));
        var stream = Stream(client, upstream, Prefix(upstream, FinishEvent(upstream) + 1));

        var last = BridgeHarness.Events(stream)[^1].Data;
        switch (client)
        {
            case ApiKind.Responses:
                Assert.Equal("response.completed", last.Type());
                break;
            case ApiKind.Messages:
                Assert.Equal("message_stop", last.Type());
                break;
            default:
                Assert.Equal(default, last);
                Assert.Contains("\"finish_reason\":\"tool_calls\"", stream);
                break;
        }
    }

    [Fact]
    public void BytesAfterTheTerminalEvent_AreIgnored()
    {
        var stream = Stream(ApiKind.Responses, ApiKind.ChatCompletions, [.. ChatTranscripts.TextOnly, .. Sse(ChatTranscripts.Chunk("\"content\":\"late\""))]);

        Assert.DoesNotContain("late", stream);
        Assert.Equal("response.completed", BridgeHarness.Events(stream)[^1].Data.Type());
    }

    private static void AssertEndsInError(ApiKind client, string stream, string code)
    {
        var events = BridgeHarness.Events(stream);
        Assert.NotEmpty(events);
        switch (client)
        {
            case ApiKind.Responses:
                Assert.Equal("response.failed", events[^1].Data.Type());
                Assert.Equal(code, events[^1].Data.GetProperty("response").GetProperty("error").Str("code"));
                Assert.DoesNotContain(events, e => e.Data.Type() is "response.completed" or "response.incomplete");
                var numbers = events.Select(e => e.Data.GetProperty("sequence_number").GetInt32()).ToList();
                Assert.Equal(Enumerable.Range(0, numbers.Count), numbers);
                break;
            case ApiKind.ChatCompletions:
                Assert.Equal(code, events[^1].Data.GetProperty("error").Str("code"));
                Assert.DoesNotContain("[DONE]", stream);
                Assert.DoesNotContain(events, e => e.Data.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                    && choices[0].TryGetProperty("finish_reason", out var finish) && finish.ValueKind == System.Text.Json.JsonValueKind.String);
                break;
            default:
                Assert.Equal("error", events[^1].Data.Type());
                Assert.Equal(code == "rate_limit_exceeded" ? "rate_limit_error" : "api_error", events[^1].Data.GetProperty("error").Str("type"));
                Assert.DoesNotContain(events, e => e.Data.Type() is "message_delta" or "message_stop");
                var started = events.Count(e => e.Data.Type() == "content_block_start");
                Assert.Equal(started, events.Count(e => e.Data.Type() == "content_block_stop"));
                break;
        }
    }

    /// <summary>The upstream's events one by one (without its end marker for Chat).</summary>
    private static string[] Events(ApiKind upstream)
    {
        var text = Encoding.UTF8.GetString(upstream switch
        {
            ApiKind.ChatCompletions => ChatTranscripts.Vllm,
            ApiKind.Responses => ResponsesTranscripts.ToolTurn,
            _ => MessagesTranscripts.ToolTurn,
        });
        return [.. text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries).Select(e => e + "\n\n").Where(e => !e.Contains("[DONE]", StringComparison.Ordinal))];
    }

    /// <summary>The index of the event in which the upstream says why it stopped.</summary>
    private static int FinishEvent(ApiKind upstream) =>
        Array.FindIndex(Events(upstream), e => e.Contains("finish_reason\":\"", StringComparison.Ordinal) || e.Contains("response.completed", StringComparison.Ordinal) || e.Contains("message_delta", StringComparison.Ordinal));

    /// <summary>The upstream's first <paramref name="count"/> events.</summary>
    private static byte[] Prefix(ApiKind upstream, int count) => Encoding.UTF8.GetBytes(string.Concat(Events(upstream).Take(count)));

    [Theory]
    [InlineData("""{"error":{"message":"This model's maximum context length is 32768 tokens. However, you requested 40000 tokens.","type":"BadRequestError","code":400}}""")]
    [InlineData("""{"object":"error","message":"The prompt is too long for the context window.","type":"BadRequestError","code":400}""")]
    public void ContextOverflowMidStream_ReachesCodexAsContextLengthExceeded_SoItCompactsInsteadOfRetrying(string error)
    {
        var stream = Stream(ApiKind.Responses, ApiKind.ChatCompletions, Sse(error));

        Assert.Equal("context_length_exceeded", BridgeHarness.Events(stream)[^1].Data.GetProperty("response").GetProperty("error").Str("code"));
    }

    [Fact]
    public void TokenPoolsSeals_AreRecognisedFromTheirBytes()
    {
        var sealedValue = Seal.Seal(TokenPool.Gateway.Translation.Pivot.ReasoningOrigin.ChatReasoning, "x"u8, default);

        Assert.True(ReasoningSeal.LooksSealed(Encoding.UTF8.GetBytes(sealedValue)));
        Assert.True(ReasoningSeal.LooksSealed(sealedValue));
        Assert.False(ReasoningSeal.LooksSealed("gAAAAABreal"u8));
    }
}
