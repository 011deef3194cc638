namespace TokenPool.Simulator;

/// <summary>The wire API a request to the simulator speaks, decided by its path.</summary>
internal enum SimulatedApi
{
    /// <summary>OpenAI Responses: <c>POST /v1/responses</c>.</summary>
    Responses,

    /// <summary>Chat Completions: <c>POST /v1/chat/completions</c>.</summary>
    Chat,

    /// <summary>Anthropic Messages: <c>POST /v1/messages</c>.</summary>
    Messages,
}
