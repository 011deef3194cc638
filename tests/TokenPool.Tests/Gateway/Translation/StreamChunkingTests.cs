using System.Text;
using System.Text.RegularExpressions;
using TokenPool.Gateway.Translation;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>
/// However a socket cuts an upstream stream into chunks (at every byte boundary, one byte at a time, at random
/// places), the client gets the same translated events.
/// </summary>
public sealed partial class StreamChunkingTests
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var client in new[] { ApiKind.Responses, ApiKind.Messages })
        {
            foreach (var name in new[] { "vllm", "deepseek", "ollama", "text", "vllm-crlf" })
            {
                data.Add(name, client.ToString(), nameof(ApiKind.ChatCompletions));
            }
        }

        foreach (var client in new[] { ApiKind.ChatCompletions, ApiKind.Messages })
        {
            data.Add("responses", client.ToString(), nameof(ApiKind.Responses));
        }

        foreach (var client in new[] { ApiKind.Responses, ApiKind.ChatCompletions })
        {
            data.Add("messages", client.ToString(), nameof(ApiKind.Messages));
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EveryWayOfCuttingTheUpstreamStream_GivesTheSameClientStream(string transcript, string clientApi, string upstreamApi)
    {
        var client = Enum.Parse<ApiKind>(clientApi);
        var upstream = Enum.Parse<ApiKind>(upstreamApi);
        var bytes = Transcript(transcript);
        var whole = Normalize(Stream(client, upstream, bytes, wantsUsage: true));
        Assert.NotEmpty(Events(whole));
        if (transcript == "vllm-crlf")
        {
            Assert.Equal(Normalize(Stream(client, upstream, Transcript("vllm"), wantsUsage: true)), whole);
        }

        for (var cut = 1; cut < bytes.Length; cut++)
        {
            var twoChunks = Normalize(Stream(client, upstream, bytes, [cut], wantsUsage: true));
            Assert.True(whole == twoChunks, $"cut at byte {cut} of {transcript} changed the stream");
        }

        Assert.Equal(whole, Normalize(Stream(client, upstream, bytes, Enumerable.Range(1, bytes.Length - 1), wantsUsage: true)));

        var random = new Random(17);
        for (var round = 0; round < 50; round++)
        {
            var cuts = Enumerable.Range(0, random.Next(2, 12)).Select(_ => random.Next(1, bytes.Length)).Distinct();
            Assert.Equal(whole, Normalize(Stream(client, upstream, bytes, cuts, wantsUsage: true)));
        }
    }

    private static byte[] Transcript(string name) => name switch
    {
        "vllm" => ChatTranscripts.Vllm,
        "vllm-crlf" => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(ChatTranscripts.Vllm).Replace("\n", "\r\n", StringComparison.Ordinal)),
        "deepseek" => ChatTranscripts.DeepSeek,
        "ollama" => ChatTranscripts.Ollama,
        "text" => ChatTranscripts.TextOnly,
        "responses" => ResponsesTranscripts.ToolTurn,
        _ => MessagesTranscripts.ToolTurn,
    };

    /// <summary>Seals are encrypted with a fresh nonce each time: compare what they hold instead.</summary>
    private static string Normalize(string stream) => SealPattern().Replace(stream, match =>
    {
        var carry = Seal.Open(match.Value);
        Assert.NotNull(carry);
        return $"SEAL[{carry.Origin}|{carry.Text}|{carry.Blob}]";
    });

    [GeneratedRegex("tpr1_[A-Za-z0-9_-]+")]
    private static partial Regex SealPattern();
}
