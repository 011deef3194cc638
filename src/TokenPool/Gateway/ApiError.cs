using System.Text.Json;

namespace TokenPool.Gateway;

/// <summary>
/// An error in OpenAI's envelope: <c>{"error":{"message","type","param","code"}}</c>. Clients branch on
/// <see cref="Code"/>, people read <see cref="Message"/>, so every message says what to do next.
/// </summary>
internal sealed record ApiError(int Status, string Type, string? Code, string Message, string? Param = null)
{
    public const string InvalidRequest = "invalid_request_error";

    /// <summary>Response headers to add with the error, such as Retry-After.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public ApiError WithHeader(string name, string value) => this with { Headers = [.. Headers, new(name, value)] };

    /// <summary>Messages stay readable in a terminal: quotes and angle brackets are not turned into <c>\u0022</c> escapes.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public async Task WriteAsync(HttpContext context)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = Status;
        response.ContentType = "application/json";
        foreach (var (name, value) in Headers)
        {
            response.Headers[name] = value;
        }

        await using (var writer = new Utf8JsonWriter(response.BodyWriter, WriterOptions))
        {
            WriteEnvelope(writer);
        }

        await response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    public void WriteEnvelope(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WritePropertyName("error"u8);
        WriteErrorObject(writer);
        writer.WriteEndObject();
    }

    /// <summary>The inner object, as it also appears in a Responses <c>response.failed</c> event.</summary>
    public void WriteErrorObject(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("message"u8, Message);
        writer.WriteString("type"u8, Type);
        WriteNullable(writer, "param"u8, Param);
        WriteNullable(writer, "code"u8, Code);
        writer.WriteEndObject();
    }

    public byte[] ToJsonBytes()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            WriteEnvelope(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteNullable(Utf8JsonWriter writer, ReadOnlySpan<byte> name, string? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
        }
        else
        {
            writer.WriteString(name, value);
        }
    }
}
