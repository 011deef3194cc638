using System.Buffers;
using System.Collections.Frozen;
using System.Text.Json;
using TokenPool.Gateway.Streaming;
using TokenPool.Gateway.Translation;
using TokenPool.Upstreams;

namespace TokenPool.Gateway.Dialects.Chat;

/// <summary>
/// OpenAI's Chat Completions API (<c>POST /v1/chat/completions</c>), spoken by OpenAI-compatible clients and by
/// most upstream servers (vLLM, Ollama, DeepSeek, SGLang):
/// <list type="bullet">
/// <item>the output limit is written as <c>max_completion_tokens</c> for a channel that also serves the Responses
/// API (OpenAI and Azure, whose reasoning models refuse <c>max_tokens</c>) and as <c>max_tokens</c> for a Chat-only
/// server (vLLM, Ollama and DeepSeek read it; not all of them know <c>max_completion_tokens</c>);</item>
/// <item>a stream reports usage only when asked (<c>stream_options.include_usage</c>), so TokenPool always asks and
/// keeps the usage-only chunk from a client that did not;</item>
/// <item>a stream ends with <c>data: [DONE]</c>; TokenPool ends a failed one with <c>data: {"error":{…}}</c> as
/// OpenAI does. It has no keep-alive event.</item>
/// </list>
/// </summary>
internal sealed class ChatDialect : Dialect
{
    public static readonly ChatDialect Instance = new();

    private static readonly FrozenSet<string> TextFields = FrozenSet.Create(StringComparer.Ordinal, "content", "arguments", "reasoning_content", "reasoning", "refusal");

    private ChatDialect()
    {
    }

    public override ApiKind Api => ApiKind.ChatCompletions;

    public override string Path => "chat/completions";

    public override string Endpoint => "chat.completions";

    public override string AnswerId(string requestId) => "chatcmpl-" + requestId.Replace("req_", "", StringComparison.Ordinal);

    public override string OutputLimitField(WireSet served) => served.Contains(ApiKind.Responses) ? "max_completion_tokens" : "max_tokens";

    public override bool StreamUsageMustBeAsked => true;

    public override byte[] ProbeBody(string model, int maxOutputTokens) =>
        JsonSerializer.SerializeToUtf8Bytes(new { model, messages = new[] { new { role = "user", content = "ping" } }, max_tokens = maxOutputTokens });

    public override UpstreamErrorBody ReadError(ReadOnlySpan<byte> body) => UsageReader.ReadErrorBody(body);

    public override AnswerFacts ReadAnswer(ReadOnlySpan<byte> body) =>
        new(UsageReader.TryRead(body, insideResponse: false, out var usage) ? usage : null, null);

    public override IReadOnlySet<string> AnswerTextFields => TextFields;

    public override SseMeter StartMeter(string? channelSecret, bool dropUsageOnlyChunks) =>
        new ChatMeter { ChannelSecret = channelSecret, DropUsageOnlyChunks = dropUsageOnlyChunks };

    public override byte[] TerminalError(ApiError error, SseMeter? meter, string model, string requestId)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.Write("data: "u8);
        using (var writer = new Utf8JsonWriter(buffer, ApiError.WriterOptions))
        {
            error.WriteEnvelope(writer);
        }

        buffer.Write("\n\n"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
