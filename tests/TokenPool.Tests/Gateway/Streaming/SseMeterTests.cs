using System.Buffers;
using System.Text;
using TokenPool.Gateway.Streaming;
using TokenPool.Gateway.Dialects.Chat;
using TokenPool.Gateway.Dialects.Responses;

namespace TokenPool.Tests.Gateway.Streaming;

public sealed class SseMeterTests
{
    private static byte[] Event(string type, string json) => Encoding.UTF8.GetBytes($"event: {type}\ndata: {json}\n\n");

    private static readonly byte[] Delta = Event("response.output_text.delta",
        """{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello, world","logprobs":[]}""");

    private static readonly byte[] Completed = Event("response.completed",
        """{"type":"response.completed","sequence_number":9,"response":{"id":"resp_1","object":"response","created_at":1,"status":"completed","output":[],"usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":12},"total_tokens":150}}}""");

    [Fact]
    public void ResponsesStream_UsageIsReadFromTheCompletedEvent()
    {
        using var meter = new ResponsesMeter();

        meter.Observe(Delta);
        meter.Observe(Completed);

        Assert.Equal(StreamEnd.Completed, meter.End);
        Assert.Equal(new TokenPool.Billing.TokenUsage(120, 100, 30, 12), meter.Usage);
        Assert.Equal(2, meter.Events);
    }

    [Fact]
    public void EventsSplitAcrossChunks_AreReassembled()
    {
        using var meter = new ResponsesMeter();
        var all = Delta.Concat(Completed).ToArray();

        // One byte at a time: the worst framing a socket can produce.
        for (var i = 0; i < all.Length; i++)
        {
            meter.Observe(all.AsSpan(i, 1));
        }

        Assert.Equal(StreamEnd.Completed, meter.End);
        Assert.Equal(120, meter.Usage?.InputTokens);
        Assert.Equal("Hello, world", Encoding.UTF8.GetString(meter.DeliveredText));
    }

    [Theory]
    [InlineData("\n")]
    [InlineData("\r\n")]
    public void EveryWayOfCuttingAStreamInTwo_ReadsAsTheWholeStream(string lineEnd)
    {
        var created = Event("response.created", """{"type":"response.created","sequence_number":0,"response":{"id":"resp_7","created_at":1700000000,"status":"in_progress"}}""");
        var comment = Encoding.UTF8.GetBytes(": keep-alive\n\n");
        var all = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString([.. created, .. comment, .. Delta, .. Delta, .. Completed]).Replace("\n", lineEnd, StringComparison.Ordinal));
        for (var cut = 0; cut <= all.Length; cut++)
        {
            using var meter = new ResponsesMeter();
            meter.Observe(all.AsSpan(0, cut));
            meter.Observe(all.AsSpan(cut));

            Assert.Equal(StreamEnd.Completed, meter.End);
            Assert.Equal(new TokenPool.Billing.TokenUsage(120, 100, 30, 12), meter.Usage);
            Assert.Equal("resp_7", meter.ResponseId);
            Assert.Equal(4, meter.Events);
            Assert.Equal("Hello, worldHello, world", Encoding.UTF8.GetString(meter.DeliveredText));
        }
    }

    [Fact]
    public void FilterMode_ForwardsEveryKeptEventWhole_HoweverTheStreamIsCut()
    {
        var content = Encoding.UTF8.GetBytes("""data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}""" + "\n\n");
        var usage = Encoding.UTF8.GetBytes("""data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}""" + "\n\n");
        var done = "data: [DONE]\n\n"u8.ToArray();
        byte[] all = [.. content, .. content, .. usage, .. done];
        var expected = Encoding.UTF8.GetString([.. content, .. content, .. done]);
        for (var cut = 0; cut <= all.Length; cut++)
        {
            using var meter = new ChatMeter { DropUsageOnlyChunks = true };
            var output = new ArrayBufferWriter<byte>();
            meter.Filter(all.AsSpan(0, cut), output);
            meter.Filter(all.AsSpan(cut), output);

            Assert.Equal(expected, Encoding.UTF8.GetString(output.WrittenSpan));
            Assert.Equal(7, meter.Usage?.InputTokens);
            Assert.Equal(StreamEnd.Done, meter.End);
        }
    }

    [Fact]
    public void StreamWithoutTerminalEvent_EndsAsNone()
    {
        using var meter = new ResponsesMeter();

        meter.Observe(Delta);

        Assert.Equal(StreamEnd.None, meter.End);
        Assert.Null(meter.Usage);
    }

    [Fact]
    public void ChatStream_UsageOnlyChunkIsDroppedInFilterMode_AndCounted()
    {
        var content = Encoding.UTF8.GetBytes("""data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}""" + "\n\n");
        var usage = Encoding.UTF8.GetBytes("""data: {"id":"c1","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}""" + "\n\n");
        var done = "data: [DONE]\n\n"u8.ToArray();
        using var meter = new ChatMeter { DropUsageOnlyChunks = true };
        var output = new ArrayBufferWriter<byte>();

        meter.Filter(content, output);
        meter.Filter(usage, output);
        meter.Filter(done, output);

        var forwarded = Encoding.UTF8.GetString(output.WrittenSpan);
        Assert.Contains("\"Hi\"", forwarded, StringComparison.Ordinal);
        Assert.DoesNotContain("prompt_tokens", forwarded, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", forwarded, StringComparison.Ordinal);
        Assert.Equal(7, meter.Usage?.InputTokens);
        Assert.Equal(3, meter.Usage?.OutputTokens);
        Assert.Equal(StreamEnd.Done, meter.End);
    }

    [Fact]
    public void ScanningTenThousandEvents_AllocatesNothingPerEvent()
    {
        var plain = Event("response.function_call_arguments.delta",
            """{"type":"response.function_call_arguments.delta","sequence_number":5,"item_id":"fc_1","output_index":1,"delta":"{\"cmd\":"}""");
        // Warm the shared buffer pool as a running server has it: one stream that ran to the same length.
        using (var warmup = new ResponsesMeter())
        {
            for (var i = 0; i < 10_000; i++)
            {
                warmup.Observe(plain);
            }
        }

        using var meter = new ResponsesMeter();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            meter.Observe(plain);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Flat: a single allocation of one event's size would already be ~1.5 MB over 10,000 events.
        Assert.True(allocated < 1024, $"Scanning 10,000 events allocated {allocated} bytes.");
        Assert.Equal(10_000, meter.Events);
    }
}
