namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// The events of one answer, in one vocabulary for every API: an upstream reader calls these as it reads the
/// upstream's stream (or its whole body), a client writer turns them into the client's events. Text arguments
/// are the still-escaped content of a JSON string as the upstream sent it (no quotes), so text is never decoded
/// and re-encoded on the way through.
/// </summary>
internal interface IReplySink
{
    /// <summary>Visible reasoning text (a summary, thinking, <c>reasoning_content</c>).</summary>
    void Reasoning(ReadOnlySpan<byte> text);

    /// <summary>Where the current reasoning came from, and a piece of its opaque blob (signature, encrypted content), which may be empty.</summary>
    void ReasoningOrigin(ReasoningOrigin origin, ReadOnlySpan<byte> blob);

    /// <summary>The upstream closed the current reasoning block (Chat upstreams never do: the next text or call closes it).</summary>
    void ReasoningEnd();

    void Text(ReadOnlySpan<byte> text);

    /// <summary>A tool call starts; <paramref name="key"/> identifies it in the upstream's later fragments.</summary>
    void ToolCall(int key, string callId, string name);

    /// <summary>A fragment of a call's arguments (JSON text, escaped as a JSON string's content).</summary>
    void ToolArguments(int key, ReadOnlySpan<byte> fragment);

    void ToolCallEnd(int key);

    /// <summary>This request's usage; a later report replaces an earlier one (upstreams repeat running figures).</summary>
    void Usage(in ReplyUsage usage);

    void Finish(FinishReason reason, string? stopSequence);

    /// <summary>The upstream reported a failure inside its stream: the client gets its API's terminal error.</summary>
    void Failed(ApiError error);

    /// <summary>The upstream's stream ended as it should (Chat <c>[DONE]</c>, <c>message_stop</c>, <c>response.completed</c>).</summary>
    void Completed();
}
