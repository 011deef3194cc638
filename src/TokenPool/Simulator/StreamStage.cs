namespace TokenPool.Simulator;

/// <summary>Where in a stream an event sits; the faults that cut or fail a stream name one of these.</summary>
internal enum StreamStage
{
    /// <summary>Nothing sent yet: not even the response headers.</summary>
    Headers,

    /// <summary>Headers sent, no body byte yet.</summary>
    FirstByte,

    /// <summary>The opening event: <c>response.created</c>, <c>message_start</c>, the first chat chunk.</summary>
    Created,

    /// <summary>Reasoning (summary, thinking, <c>reasoning_content</c>).</summary>
    Reasoning,

    /// <summary>Answer text deltas.</summary>
    Text,

    /// <summary>Tool-call argument deltas.</summary>
    Tool,

    /// <summary>Items and blocks closed, finish reason sent; usage not yet.</summary>
    Finish,

    /// <summary>The event that carries usage (<c>response.completed</c>, the usage chunk, <c>message_delta</c>).</summary>
    Usage,

    /// <summary>The closing marker (<c>data: [DONE]</c>, <c>message_stop</c>).</summary>
    End,
}
