using TokenPool.Billing;
using TokenPool.Gateway.Streaming;

namespace TokenPool.Tests.Gateway.Streaming;

public sealed class UsageReaderTests
{
    [Fact]
    public void ResponsesCompletedEvent_UsageWithCachedAndReasoningDetails()
    {
        var json = """{"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","output":[{"usage":"decoy"}],"usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":150}}}"""u8;

        Assert.True(UsageReader.TryRead(json, insideResponse: true, out var usage));
        Assert.Equal(new TokenUsage(120, 100, 30, 12), usage);
    }

    [Fact]
    public void ChatChunk_UsageWithPromptAndCompletionDetails()
    {
        var json = """{"id":"c","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":7,"total_tokens":57,"prompt_tokens_details":{"cached_tokens":32},"completion_tokens_details":{"reasoning_tokens":3}}}"""u8;

        Assert.True(UsageReader.TryRead(json, insideResponse: false, out var usage));
        Assert.Equal(new TokenUsage(50, 32, 7, 3), usage);
    }

    [Fact]
    public void NoUsage_OrNullUsage_IsNotRead()
    {
        Assert.False(UsageReader.TryRead("""{"choices":[{"delta":{"content":"hi"}}]}"""u8, false, out _));
        Assert.False(UsageReader.TryRead("""{"choices":[],"usage":null}"""u8, false, out _));
        Assert.False(UsageReader.TryRead("""not json"""u8, false, out _));
    }

    [Fact]
    public void NonIntegerCounts_ComeBackAsMinusOne_SoTheyAreNeverBilledAsReported()
    {
        Assert.True(UsageReader.TryRead("""{"usage":{"prompt_tokens":1.5,"completion_tokens":"7"}}"""u8, false, out var usage));
        Assert.Equal(-1, usage.InputTokens);
    }

    [Fact]
    public void ErrorBodyAndFailedEvent_CodeAndMessage()
    {
        Assert.Equal(("rate_limit_exceeded", "slow down"), UsageReader.ReadError("""{"error":{"message":"slow down","type":"requests","param":null,"code":"rate_limit_exceeded"}}"""u8, insideResponse: false));
        Assert.Equal(("server_error", "boom"), UsageReader.ReadError("""{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}"""u8, insideResponse: true));
        Assert.Equal((null, null), UsageReader.ReadError("<html>502 Bad Gateway</html>"u8, insideResponse: false));
    }
}
