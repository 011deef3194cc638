namespace TokenPool.Simulator;

/// <summary>
/// Which real server the simulator imitates. Each flavour serves the APIs that server serves (404 on the
/// others, in that server's own 404 shape), authenticates as it does, and writes its streams, usage and
/// errors field for field as it does (protocols.md §3, §4, §10, §11).
/// </summary>
internal enum SimulatorFlavor
{
    /// <summary>OpenAI: Responses and Chat Completions.</summary>
    OpenAi,

    /// <summary>vLLM: Chat only; <c>reasoning</c> deltas, tool calls in fragments, <c>stop_reason</c>, integer error codes.</summary>
    Vllm,

    /// <summary>Ollama's <c>/v1</c> (releases without Responses): Chat only; <c>reasoning</c>, whole tool calls in one chunk, no authentication.</summary>
    Ollama,

    /// <summary>DeepSeek: Chat only; <c>reasoning_content</c>, cache hit/miss tokens, <c>: keep-alive</c> while queued.</summary>
    DeepSeek,

    /// <summary>SGLang: Chat only; <c>reasoning_content</c>, flat error objects.</summary>
    SgLang,

    /// <summary>Anthropic: Messages and count_tokens, <c>x-api-key</c> and <c>anthropic-version</c>.</summary>
    Anthropic,

    /// <summary>Every API at once: the built-in simulator behind <c>tokenpool serve</c>, so any client works before a channel exists.</summary>
    AllApis,
}
