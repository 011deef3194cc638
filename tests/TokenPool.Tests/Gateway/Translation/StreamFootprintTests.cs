using System.Buffers;
using System.Text;
using TokenPool.Gateway.Translation;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>
/// What a bridged stream costs in memory, counted rather than timed (speed lives in bench/): the translators read
/// and write every event in place, so a long answer allocates next to nothing per event.
/// </summary>
public sealed class StreamFootprintTests
{
    private const int Deltas = 2000;

    private static byte[] LongChatStream()
    {
        var text = new StringBuilder();
        text.Append("data: ").Append(ChatTranscripts.Chunk("\"role\":\"assistant\",\"reasoning_content\":\"Thinking \\\"hard\\\"\"")).Append("\n\n");
        for (var i = 0; i < Deltas; i++)
        {
            text.Append("data: ").Append(ChatTranscripts.Chunk("\"content\":\"word \\u00e9 \"")).Append("\n\n");
        }

        text.Append("data: ").Append(ChatTranscripts.Chunk("", "stop")).Append("\n\n");
        text.Append("data: ").Append(ChatTranscripts.Usage("\"prompt_tokens\":10,\"completion_tokens\":2000,\"total_tokens\":2010")).Append("\n\n");
        text.Append("data: [DONE]\n\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    [Theory]
    [InlineData("Responses")]
    [InlineData("Messages")]
    public void TranslatingAChatStreamOfTwoThousandDeltas_AllocatesUnderTwentyBytesAnEvent(string clientApi)
    {
        var client = Enum.Parse<ApiKind>(clientApi);
        var upstream = LongChatStream();
        var output = new ArrayBufferWriter<byte>(4 * 1024 * 1024);
        Run(client, upstream, output);

        var before = GC.GetAllocatedBytesForCurrentThread();
        Run(client, upstream, output);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(allocated < Deltas * 20, $"{allocated} bytes allocated for {Deltas} events");
    }

    private static void Run(ApiKind client, byte[] upstream, ArrayBufferWriter<byte> output)
    {
        output.ResetWrittenCount();
        using var translator = Bridge(client, ApiKind.ChatCompletions).StartStream(Options(client));
        for (var at = 0; at < upstream.Length; at += 1500)
        {
            translator.Write(upstream.AsSpan(at, Math.Min(1500, upstream.Length - at)), output);
        }

        translator.Complete(output, null);
        Assert.True(translator.Ended);
    }
}
