using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace TokenPool.Billing;

/// <summary>
/// Counts tokens with the o200k tokenizer when the upstream reported no usage (a cut stream, a client
/// that went away). Loaded on first use: a request that ends normally never needs it.
/// </summary>
internal sealed class TokenEstimator
{
    private static readonly HashSet<string> NonTextProperties =
    [
        "model", "type", "role", "id", "call_id", "status", "encrypted_content", "prompt_cache_key", "tool_choice",
        "previous_response_id", "service_tier", "truncation", "effort", "summary", "verbosity", "include", "store", "stream",
    ];

    private readonly Lazy<Tokenizer> _tokenizer = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));

    public int CountText(string text) => text.Length == 0 ? 0 : _tokenizer.Value.CountTokens(text);

    /// <summary>
    /// Input tokens of a Responses or Chat Completions request: the text of every message, instruction and
    /// tool definition, plus a few tokens of framing per message, as the upstream would count them.
    /// </summary>
    public long CountRequestInput(ReadOnlySpan<byte> body)
    {
        var text = new StringBuilder();
        var items = 0;
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        string? property = null;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        property = reader.GetString();
                        break;
                    case JsonTokenType.StartObject:
                        items++;
                        break;
                    case JsonTokenType.String when property is null || !NonTextProperties.Contains(property):
                        text.Append(reader.GetString()).Append('\n');
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Count what was read.
        }

        return CountText(text.ToString()) + 3L * items;
    }

    /// <summary>
    /// Output tokens of a whole answer that reported no usage: the text of every string member named in
    /// <paramref name="textFields"/> (the answer's text, tool-call arguments, reasoning), wherever it lies.
    /// </summary>
    public long CountAnswerText(ReadOnlySpan<byte> body, IReadOnlySet<string> textFields)
    {
        var text = new StringBuilder();
        var reader = new Utf8JsonReader(body);
        string? property = null;
        try
        {
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.PropertyName:
                        property = reader.GetString();
                        continue;
                    case JsonTokenType.String when property is not null && textFields.Contains(property):
                        text.Append(reader.GetString()).Append('\n');
                        break;
                }

                property = null;
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Count what was read.
        }

        return CountText(text.ToString());
    }

    /// <summary>Output tokens from the text deltas a stream delivered, collected as JSON-escaped UTF-8.</summary>
    public long CountEscapedText(ReadOnlySpan<byte> escapedUtf8)
    {
        if (escapedUtf8.IsEmpty)
        {
            return 0;
        }

        var quoted = ArrayPool<byte>.Shared.Rent(escapedUtf8.Length + 2);
        try
        {
            quoted[0] = (byte)'"';
            escapedUtf8.CopyTo(quoted.AsSpan(1));
            quoted[escapedUtf8.Length + 1] = (byte)'"';
            var reader = new Utf8JsonReader(quoted.AsSpan(0, escapedUtf8.Length + 2));
            string text;
            try
            {
                reader.Read();
                text = reader.GetString() ?? "";
            }
            catch (JsonException)
            {
                text = Encoding.UTF8.GetString(escapedUtf8);
            }
            catch (InvalidOperationException)
            {
                text = Encoding.UTF8.GetString(escapedUtf8);
            }

            return CountText(text);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(quoted);
        }
    }
}
