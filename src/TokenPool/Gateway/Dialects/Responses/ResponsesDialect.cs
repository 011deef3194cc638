using System.Buffers;
using System.Collections.Frozen;
using System.Text.Json;
using TokenPool.Gateway.Streaming;
using TokenPool.Gateway.Translation;
using TokenPool.Upstreams;

namespace TokenPool.Gateway.Dialects.Responses;

/// <summary>
/// OpenAI's Responses API (<c>POST /v1/responses</c>), spoken by Codex and OpenCode's <c>openai</c> provider:
/// <list type="bullet">
/// <item>the output limit is <c>max_output_tokens</c>;</item>
/// <item>input may carry reasoning items encrypted by the upstream account that made them;</item>
/// <item>a response is kept upstream (and can be named by <c>previous_response_id</c>) unless <c>store</c> is false;</item>
/// <item>the stream ends with <c>response.completed</c>, <c>response.incomplete</c> or <c>response.failed</c>; TokenPool
/// ends a failed stream with its own <c>response.failed</c> (Codex ignores a bare <c>error</c> event, and OpenCode resends
/// a stream that just stops, in a loop);</item>
/// <item>while a stream waits for the upstream, a typed keep-alive event resets Codex's idle timer (comments do not).</item>
/// </list>
/// </summary>
internal sealed class ResponsesDialect : Dialect
{
    public static readonly ResponsesDialect Instance = new();

    private static readonly byte[] KeepAliveEvent = "event: keepalive\ndata: {\"type\":\"keepalive\"}\n\n"u8.ToArray();

    private static readonly FrozenSet<string> TextFields = FrozenSet.Create(StringComparer.Ordinal, "text", "arguments", "input", "refusal");

    private ResponsesDialect()
    {
    }

    public override ApiKind Api => ApiKind.Responses;

    public override string Path => "responses";

    public override string Endpoint => "responses";

    public override string AnswerId(string requestId) => "resp_" + requestId.Replace("req_", "", StringComparison.Ordinal);

    public override string OutputLimitField(WireSet served) => "max_output_tokens";

    public override bool HasForeignableReasoning(ReadOnlySpan<byte> body) =>
        body.IndexOf("\"reasoning\""u8) >= 0 && body.IndexOf("\"encrypted_content\""u8) >= 0;

    public override bool KeepsResponse(RequestFacts facts) => !facts.StoreDisabled;

    public override byte[] ProbeBody(string model, int maxOutputTokens) =>
        JsonSerializer.SerializeToUtf8Bytes(new { model, input = "ping", max_output_tokens = maxOutputTokens, store = false });

    public override UpstreamErrorBody ReadError(ReadOnlySpan<byte> body) => UsageReader.ReadErrorBody(body);

    public override AnswerFacts ReadAnswer(ReadOnlySpan<byte> body) => new(
        UsageReader.TryRead(body, insideResponse: false, out var usage) ? usage : null,
        UsageReader.ReadResponseId(body, insideResponse: false).Id);

    public override IReadOnlySet<string> AnswerTextFields => TextFields;

    public override SseMeter StartMeter(string? channelSecret, bool dropUsageOnlyChunks) => new ResponsesMeter { ChannelSecret = channelSecret };

    public override ReadOnlyMemory<byte> KeepAlive => KeepAliveEvent;

    public override byte[] TerminalError(ApiError error, SseMeter? meter, string model, string requestId)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        buffer.Write("event: response.failed\ndata: "u8);
        using (var writer = new Utf8JsonWriter(buffer, ApiError.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "response.failed"u8);
            writer.WriteNumber("sequence_number"u8, meter?.Events ?? 0);
            writer.WritePropertyName("response"u8);
            writer.WriteStartObject();
            writer.WriteString("id"u8, meter?.ResponseId ?? AnswerId(requestId));
            writer.WriteString("object"u8, "response"u8);
            writer.WriteNumber("created_at"u8, meter?.CreatedAt ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds());
            writer.WriteString("status"u8, "failed"u8);
            writer.WriteString("model"u8, model);
            writer.WriteStartArray("output"u8);
            writer.WriteEndArray();
            writer.WriteNull("usage"u8);
            writer.WritePropertyName("error"u8);
            writer.WriteStartObject();
            writer.WriteString("code"u8, error.Code ?? "server_error");
            writer.WriteString("message"u8, error.Message);
            writer.WriteEndObject();
            writer.WriteNull("incomplete_details"u8);
            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        buffer.Write("\n\n"u8);
        return buffer.WrittenSpan.ToArray();
    }
}
