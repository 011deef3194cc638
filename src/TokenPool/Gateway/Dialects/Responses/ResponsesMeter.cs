using TokenPool.Gateway.Streaming;

namespace TokenPool.Gateway.Dialects.Responses;

/// <summary>
/// Reads a Responses stream's events: usage from <c>response.completed</c>, <c>response.incomplete</c> or
/// <c>response.failed</c>, the response id from <c>response.created</c>, the error of a failed response, and the text
/// of every delta (for counting a cut stream's output). In filter mode an upstream's <c>response.failed</c> or
/// <c>error</c> event goes on with credentials taken out of it.
/// </summary>
internal sealed class ResponsesMeter : SseMeter
{
    /// <summary>A Responses stream is over when it has had one of its terminal events.</summary>
    public override bool Ended => End != StreamEnd.None;

    protected override EventVerdict OnEvent(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data, bool filtering)
    {
        Events++;
        var type = name.IsEmpty ? UsageReader.EventType(data) : name;
        if (type.EndsWith(".delta"u8))
        {
            if (type.SequenceEqual("response.output_text.delta"u8) || type.SequenceEqual("response.function_call_arguments.delta"u8)
                || type.SequenceEqual("response.reasoning_summary_text.delta"u8) || type.SequenceEqual("response.reasoning_text.delta"u8)
                || type.SequenceEqual("response.custom_tool_call_input.delta"u8) || type.SequenceEqual("response.refusal.delta"u8))
            {
                AppendStringValue(data, "\"delta\":\""u8);
            }
        }
        else if (type.SequenceEqual("response.created"u8) || (ResponseId is null && type.SequenceEqual("response.in_progress"u8)))
        {
            if (ResponseId is null)
            {
                (ResponseId, CreatedAt) = UsageReader.ReadResponseId(data, insideResponse: true);
            }
        }
        else if (type.SequenceEqual("response.completed"u8))
        {
            End = StreamEnd.Completed;
            ReadUsage(data, insideResponse: true);
        }
        else if (type.SequenceEqual("response.incomplete"u8))
        {
            End = StreamEnd.Incomplete;
            ReadUsage(data, insideResponse: true);
        }
        else if (type.SequenceEqual("response.failed"u8))
        {
            End = StreamEnd.Failed;
            ReadUsage(data, insideResponse: true);
            (ErrorCode, ErrorMessage) = UsageReader.ReadError(data, insideResponse: true);
            return filtering ? ReplaceWithScrubbed(name, data) : EventVerdict.Keep;
        }
        else if (type.SequenceEqual("error"u8))
        {
            var (code, message) = UsageReader.ReadError(data, insideResponse: false);
            ErrorCode ??= code ?? ReadTopLevelErrorCode(data);
            ErrorMessage ??= message;
            return filtering ? ReplaceWithScrubbed(name, data) : EventVerdict.Keep;
        }

        return EventVerdict.Keep;
    }
}
