namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Chat Completions streams as each upstream flavour sends them (protocols §3, §11.1).</summary>
internal static class ChatTranscripts
{
    private const string Head = "\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\"";

    public static string Chunk(string delta, string? finish = null) =>
        "{" + Head + ",\"choices\":[{\"index\":0,\"delta\":{" + delta + "},\"finish_reason\":" + (finish is null ? "null" : "\"" + finish + "\"") + "}]}";

    public static string Usage(string usage) => "{" + Head + ",\"choices\":[],\"usage\":{" + usage + "}}";

    /// <summary>vLLM: <c>reasoning</c> deltas, a tool call in fragments, the usage chunk because it was asked for.</summary>
    public static readonly byte[] Vllm = BridgeHarness.Sse(
        Chunk("\"role\":\"assistant\",\"content\":\"\""),
        Chunk("\"reasoning\":\"Let me \""),
        Chunk("\"reasoning\":\"run it.\""),
        Chunk("\"content\":\"Running \\\"echo\\\"\""),
        Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"call_v1\",\"type\":\"function\",\"function\":{\"name\":\"exec_command\",\"arguments\":\"\"}}]"),
        Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"cmd\\\": \"}}]"),
        Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"echo hi\\\"}\"}}]"),
        Chunk("", "tool_calls"),
        Usage("\"prompt_tokens\":120,\"completion_tokens\":30,\"total_tokens\":150,\"prompt_tokens_details\":{\"cached_tokens\":64}"),
        "[DONE]");

    /// <summary>DeepSeek: <c>reasoning_content</c>, a keep-alive comment, <c>prompt_cache_hit_tokens</c>, reasoning tokens.</summary>
    public static readonly byte[] DeepSeek = [.. ": keep-alive\n\n"u8, .. BridgeHarness.Sse(
        Chunk("\"role\":\"assistant\",\"content\":null,\"reasoning_content\":\"\""),
        Chunk("\"content\":null,\"reasoning_content\":\"I should list \""),
        Chunk("\"content\":null,\"reasoning_content\":\"the files.\""),
        Chunk("\"tool_calls\":[{\"index\":0,\"id\":\"call_ds\",\"type\":\"function\",\"function\":{\"name\":\"bash\",\"arguments\":\"\"}}]"),
        Chunk("\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"command\\\":\\\"ls\\\"}\"}}]"),
        Chunk("\"content\":\"\"", "tool_calls"),
        Usage("\"prompt_tokens\":900,\"completion_tokens\":40,\"total_tokens\":940,\"prompt_cache_hit_tokens\":512,\"prompt_cache_miss_tokens\":388,\"completion_tokens_details\":{\"reasoning_tokens\":25}"),
        "[DONE]")];

    /// <summary>Ollama: the whole tool call in one chunk, <c>finish_reason: stop</c> after it, plain usage.</summary>
    public static readonly byte[] Ollama = BridgeHarness.Sse(
        Chunk("\"role\":\"assistant\",\"content\":\"\",\"reasoning\":\"Thinking.\""),
        Chunk("\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"id\":\"call_o1\",\"index\":0,\"type\":\"function\",\"function\":{\"name\":\"read\",\"arguments\":\"{\\\"path\\\":\\\"a.txt\\\"}\"}}]"),
        Chunk("\"role\":\"assistant\",\"content\":\"\"", "stop"),
        Usage("\"prompt_tokens\":50,\"completion_tokens\":9,\"total_tokens\":59"),
        "[DONE]");

    /// <summary>A text answer with no usage chunk (the client did not ask, and the upstream ignored TokenPool's request).</summary>
    public static readonly byte[] TextOnly = BridgeHarness.Sse(
        Chunk("\"role\":\"assistant\",\"content\":\"Hello \""),
        Chunk("\"content\":\"w\\u00f6rld \\ud83d\\ude00\""),
        Chunk("", "stop"),
        "[DONE]");
}
