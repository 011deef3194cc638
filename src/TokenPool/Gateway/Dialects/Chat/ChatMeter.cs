using TokenPool.Gateway.Streaming;

namespace TokenPool.Gateway.Dialects.Chat;

/// <summary>
/// Reads a Chat Completions stream's chunks: usage from the usage chunk, the end from <c>data: [DONE]</c>, an
/// error chunk (<c>{"error":{…}}</c>, or SGLang's flat <c>{"object":"error",…}</c>), and the text of every delta
/// (content, tool-call arguments, reasoning) for counting a cut stream's output. In filter mode it leaves out the
/// usage-only chunk when TokenPool asked for usage on the client's behalf, and passes error chunks on with
/// credentials taken out of them.
/// </summary>
internal sealed class ChatMeter : SseMeter
{
    /// <summary>TokenPool asked the upstream for usage the client did not ask for: the usage-only chunk is not the client's.</summary>
    public bool DropUsageOnlyChunks { get; init; }

    /// <summary>A Chat Completions stream is over at <c>data: [DONE]</c>.</summary>
    public override bool Ended => End == StreamEnd.Done;

    protected override EventVerdict OnEvent(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data, bool filtering)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            End = StreamEnd.Done;
            return EventVerdict.Keep;
        }

        Events++;
        AppendStringValue(data, "\"content\":\""u8);
        AppendStringValue(data, "\"arguments\":\""u8);
        AppendStringValue(data, "\"reasoning_content\":\""u8);
        AppendStringValue(data, "\"reasoning\":\""u8);
        if (data.IndexOf("\"usage\":{"u8) >= 0 || data.IndexOf("\"usage\": {"u8) >= 0)
        {
            ReadUsage(data, insideResponse: false);
            if (DropUsageOnlyChunks && UsageReader.HasNoChoices(data))
            {
                return EventVerdict.Drop;
            }
        }
        else if (data.StartsWith("{\"error\""u8) || data.StartsWith("{\"object\":\"error\""u8) || (filtering && ContainsErrorObject(data)))
        {
            End = StreamEnd.Failed;
            (ErrorCode, ErrorMessage) = UsageReader.ReadError(data, insideResponse: false);
            if (ErrorCode is null && ErrorMessage is null)
            {
                ErrorCode = ReadTopLevelErrorCode(data);
            }

            return filtering ? ReplaceWithScrubbed(name, data) : EventVerdict.Keep;
        }

        return EventVerdict.Keep;
    }
}
