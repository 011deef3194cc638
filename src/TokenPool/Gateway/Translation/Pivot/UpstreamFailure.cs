using System.Text.Json;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// An error an upstream reported inside its stream, as the client's terminal event will carry it. The code is
/// kept (clients decide on it: Codex retries anything but <c>context_length_exceeded</c>, <c>insufficient_quota</c>
/// and <c>usage_not_included</c>); the upstream's own message is not passed on (it may name the upstream's account),
/// TokenPool's says what happened instead.
/// </summary>
internal static class UpstreamFailure
{
    /// <summary>Reads an error object (<c>{"message","type","code"}</c>, or Anthropic's <c>{"type","message"}</c>) at the reader's position.</summary>
    public static ApiError Read(ref Utf8JsonReader reader)
    {
        string? type = null;
        string? code = null;
        string? message = null;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }

            var name = reader.ValueTextEquals("type"u8) ? 1 : reader.ValueTextEquals("code"u8) ? 2 : reader.ValueTextEquals("message"u8) ? 3 : 0;
            reader.Read();
            if (reader.TokenType == JsonTokenType.String)
            {
                switch (name)
                {
                    case 1: type = reader.GetString(); break;
                    case 2: code = reader.GetString(); break;
                    case 3: message = reader.GetString(); break;
                }
            }
            else if (reader.TokenType == JsonTokenType.Number && name == 2 && reader.TryGetInt32(out var status))
            {
                code = status == 429 ? "rate_limit_exceeded" : null;
            }
            else
            {
                reader.Skip();
            }
        }

        return From(type, code, message);
    }

    /// <summary>
    /// Whether an upstream's message says the conversation is too long for the model (vLLM and SGLang send it with a
    /// numeric code, Anthropic as <c>invalid_request_error</c>): Codex must hear <c>context_length_exceeded</c> to
    /// compact rather than retry.
    /// </summary>
    private static bool IsContextOverflow(string? message) =>
        message is not null
        && (message.Contains("context length", StringComparison.OrdinalIgnoreCase)
            || message.Contains("context window", StringComparison.OrdinalIgnoreCase)
            || message.Contains("prompt is too long", StringComparison.OrdinalIgnoreCase));

    public static ApiError From(string? type, string? code, string? message)
    {
        code ??= type switch
        {
            _ when IsContextOverflow(message) => "context_length_exceeded",
            "rate_limit_error" or "rate_limit_exceeded" => "rate_limit_exceeded",
            "overloaded_error" => "server_is_overloaded",
            _ => "server_error",
        };
        if (code.Length > 64)
        {
            code = "server_error";
        }

        var text = code switch
        {
            "context_length_exceeded" => "The conversation is longer than the model's context window. Start a new conversation or compact this one.",
            "rate_limit_exceeded" => "The upstream is rate limiting this model right now. Please try again in a few seconds.",
            "server_is_overloaded" => "The upstream is overloaded right now. Please try again shortly.",
            _ => $"The upstream failed while answering ({code}). Please try again.",
        };
        return new ApiError(502, "server_error", code, text);
    }
}
