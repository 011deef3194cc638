using System.Buffers;
using System.Text.Json;

namespace TokenPool.Gateway.Streaming;

/// <summary>
/// Events TokenPool itself writes into a stream: the terminal event when the upstream fails or cuts a
/// stream (a Responses stream must always end with one, or OpenCode resends the request in a loop and
/// Codex retries), and the keep-alive sent while waiting for a slow first byte (a typed event: Codex's
/// idle timer ignores SSE comments).
/// </summary>
internal static class StreamEvents
{
    public static readonly byte[] ResponsesKeepAlive = "event: keepalive\ndata: {\"type\":\"keepalive\"}\n\n"u8.ToArray();

    public static byte[] ResponseFailed(ApiError error, string? responseId, long? createdAt, string model, int sequenceNumber, string requestId)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        buffer.Write("event: response.failed\ndata: "u8);
        using (var writer = new Utf8JsonWriter(buffer, ApiError.WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("type"u8, "response.failed"u8);
            writer.WriteNumber("sequence_number"u8, sequenceNumber);
            writer.WritePropertyName("response"u8);
            writer.WriteStartObject();
            writer.WriteString("id"u8, responseId ?? "resp_" + requestId);
            writer.WriteString("object"u8, "response"u8);
            writer.WriteNumber("created_at"u8, createdAt ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds());
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

    /// <summary>The error chunk that ends a failed Chat Completions stream, as OpenAI sends it: <c>data: {"error":{...}}</c>.</summary>
    public static byte[] ChatError(ApiError error)
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
