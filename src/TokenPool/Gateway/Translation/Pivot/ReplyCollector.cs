using System.Text;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// Gathers a whole answer (a non-streamed upstream body read by the upstream API's reader) so the client API's
/// reply writer can write it as one body. Runs once per request; decoding to strings is fine here.
/// </summary>
internal sealed class ReplyCollector : IReplySink
{
    private readonly Dictionary<int, ReplyToolCall> _calls = [];
    private StringBuilder? _text;
    private ReplyReasoning? _reasoning;

    public List<object> Parts { get; } = [];

    public ReplyUsage? UsageReported { get; private set; }

    public FinishReason FinishReason { get; private set; }

    public string? StopSequence { get; private set; }

    public ApiError? Failure { get; private set; }

    public bool HasToolCalls => _calls.Count > 0;

    public void Reasoning(ReadOnlySpan<byte> text)
    {
        OpenReasoning().Text.Append(JsonText.Decode(text));
    }

    public void ReasoningOrigin(ReasoningOrigin origin, ReadOnlySpan<byte> blob)
    {
        var reasoning = OpenReasoning();
        reasoning.Origin = origin;
        reasoning.Blob.Append(JsonText.Decode(blob));
    }

    public void ReasoningEnd() => _reasoning = null;

    public void Text(ReadOnlySpan<byte> text)
    {
        _reasoning = null;
        if (_text is null)
        {
            _text = new StringBuilder();
            Parts.Add(_text);
        }

        _text.Append(JsonText.Decode(text));
    }

    public void ToolCall(int key, string callId, string name)
    {
        _reasoning = null;
        _text = null;
        var call = new ReplyToolCall(callId, name);
        _calls[key] = call;
        Parts.Add(call);
    }

    public void ToolArguments(int key, ReadOnlySpan<byte> fragment)
    {
        if (_calls.TryGetValue(key, out var call))
        {
            call.Arguments.Append(JsonText.Decode(fragment));
        }
    }

    public void ToolCallEnd(int key)
    {
    }

    public void Usage(in ReplyUsage usage) => UsageReported = usage;

    public void Finish(FinishReason reason, string? stopSequence)
    {
        FinishReason = reason;
        StopSequence = stopSequence;
    }

    public void Failed(ApiError error) => Failure = error;

    public void Completed()
    {
    }

    private ReplyReasoning OpenReasoning()
    {
        _text = null;
        if (_reasoning is null)
        {
            _reasoning = new ReplyReasoning();
            Parts.Add(_reasoning);
        }

        return _reasoning;
    }
}

/// <summary>Reasoning in a whole answer: its text, origin and opaque blob.</summary>
internal sealed class ReplyReasoning
{
    public StringBuilder Text { get; } = new();

    public ReasoningOrigin Origin { get; set; }

    public StringBuilder Blob { get; } = new();
}

/// <summary>A tool call in a whole answer.</summary>
internal sealed class ReplyToolCall(string callId, string name)
{
    public string CallId { get; } = callId;

    public string Name { get; } = name;

    public StringBuilder Arguments { get; } = new();
}
