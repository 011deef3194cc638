namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>Why the model stopped, in one vocabulary for every API (the writers map it to theirs by a table).</summary>
internal enum FinishReason
{
    /// <summary>No reason given (yet).</summary>
    None,

    /// <summary>The model ended its turn (Chat <c>stop</c>, Messages <c>end_turn</c>, Responses <c>completed</c>).</summary>
    Stop,

    /// <summary>A caller's stop sequence matched (Messages <c>stop_sequence</c>; Chat reports it as <c>stop</c>).</summary>
    StopSequence,

    /// <summary>The output limit was reached (Chat <c>length</c>, Messages <c>max_tokens</c>, Responses <c>incomplete</c> / <c>max_output_tokens</c>).</summary>
    Length,

    /// <summary>The model called tools (Chat <c>tool_calls</c>, Messages <c>tool_use</c>).</summary>
    ToolCalls,

    /// <summary>Output withheld by a filter (Chat <c>content_filter</c>, Messages <c>refusal</c>, Responses <c>incomplete</c> / <c>content_filter</c>).</summary>
    ContentFilter,

    /// <summary>The upstream gave up for its own reasons (DeepSeek <c>insufficient_system_resource</c>, SGLang <c>abort</c>): a retryable failure.</summary>
    Aborted,
}
