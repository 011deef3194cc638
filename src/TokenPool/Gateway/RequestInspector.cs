using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace TokenPool.Gateway;

/// <summary>The few request fields that money and routing depend on. Everything else passes through unread.</summary>
internal sealed class RequestFacts
{
    public string? Model { get; set; }

    /// <summary>Where the model's JSON string token (quotes included) starts and how long it is.</summary>
    public int ModelTokenStart { get; set; } = -1;

    public int ModelTokenLength { get; set; }

    public int ObjectStart { get; set; }

    public bool Stream { get; set; }

    /// <summary>
    /// The smallest output limit the client sent in any of <c>max_output_tokens</c>, <c>max_completion_tokens</c> and
    /// <c>max_tokens</c>, or null when it sent none.
    /// </summary>
    public long? MaxOutputTokens { get; set; }

    public bool HasStreamOptions { get; set; }

    public bool IncludeUsage { get; set; }

    public string? PromptCacheKey { get; set; }

    public string? PreviousResponseId { get; set; }

    /// <summary><c>"store": false</c>: the upstream keeps no copy, so no later request can name this response.</summary>
    public bool StoreDisabled { get; set; }

    /// <summary>The body's top-level members in order, for rewriting it without touching the rest.</summary>
    public List<RequestMember> Members { get; } = new(16);
}

/// <summary>What a top-level member of a request body is to TokenPool.</summary>
internal enum MemberKind
{
    Other,
    Model,
    OutputLimit,
    StreamOptions,
    Input,
}

/// <summary>One top-level member: from its name's opening quote to its value's last byte, and where its value starts.</summary>
internal readonly record struct RequestMember(MemberKind Kind, int Start, int ValueStart, int End, string? Name = null, long Value = 0);

/// <summary>
/// Reads a request body once with <see cref="Utf8JsonReader"/>, picking out the fields above and skipping the rest
/// (skipping still checks that the JSON is well formed), and refuses a body TokenPool and an upstream could read
/// differently:
/// <list type="number">
/// <item>a body that is not valid UTF-8 (a 400 that says where; never a server error);</item>
/// <item>a key given twice in the top-level object or in <c>stream_options</c>, where every field TokenPool reads
/// lives (some servers take the first value, others the last: a second <c>max_output_tokens</c> would bill beyond
/// the hold); nested objects TokenPool does not read are the upstream's to judge;</item>
/// <item>a client string TokenPool stores, logs or echoes that is longer than its bound (<see cref="ClientStringLimits"/>).</item>
/// </list>
/// </summary>
internal static class RequestInspector
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };

    public static bool TryInspect(ReadOnlySpan<byte> body, out RequestFacts facts, out ApiError? error)
    {
        facts = new RequestFacts();
        error = null;
        if (!Utf8.IsValid(body))
        {
            error = GatewayErrors.InvalidUtf8(InvalidUtf8At(body));
            return false;
        }

        var reader = new Utf8JsonReader(body, ReaderOptions);
        try
        {
            if (!reader.Read())
            {
                error = GatewayErrors.InvalidJson("the body is empty");
                return false;
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                error = GatewayErrors.InvalidJson("the body is not a JSON object");
                return false;
            }

            facts.ObjectStart = (int)reader.TokenStartIndex;
            var names = new NameSet();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var start = (int)reader.TokenStartIndex;
                names.Add(body, ref reader, "the request body");
                var field = Field(ref reader);
                var limitName = field == Known.OutputLimit ? reader.GetString() : null;
                reader.Read();
                var valueStart = (int)reader.TokenStartIndex;
                var kind = MemberKind.Other;
                long limitValue = 0;
                switch (field)
                {
                    case Known.Model:
                        kind = MemberKind.Model;
                        if (reader.TokenType != JsonTokenType.String)
                        {
                            error = GatewayErrors.InvalidParameter("model", "\"model\" must be a string, e.g. \"gpt-5.5\".");
                            return false;
                        }

                        facts.Model = BoundedString(ref reader, "model", ClientStringLimits.Model);
                        facts.ModelTokenStart = valueStart;
                        facts.ModelTokenLength = (int)(reader.BytesConsumed - reader.TokenStartIndex);
                        break;
                    case Known.Stream:
                        facts.Stream = reader.TokenType switch
                        {
                            JsonTokenType.True => true,
                            JsonTokenType.False or JsonTokenType.Null => false,
                            _ => throw new InvalidParameterException("stream", "\"stream\" must be true or false."),
                        };
                        break;
                    case Known.OutputLimit:
                        kind = MemberKind.OutputLimit;
                        if (reader.TokenType == JsonTokenType.Number)
                        {
                            if (!reader.TryGetInt64(out limitValue) || limitValue < 1)
                            {
                                throw new InvalidParameterException(limitName!, $"\"{limitName}\" must be a positive whole number.");
                            }

                            facts.MaxOutputTokens = facts.MaxOutputTokens is { } earlier ? Math.Min(earlier, limitValue) : limitValue;
                        }
                        else if (reader.TokenType != JsonTokenType.Null)
                        {
                            throw new InvalidParameterException(limitName!, $"\"{limitName}\" must be a positive whole number.");
                        }

                        break;
                    case Known.StreamOptions:
                        kind = MemberKind.StreamOptions;
                        if (reader.TokenType == JsonTokenType.StartObject)
                        {
                            facts.HasStreamOptions = true;
                            ReadStreamOptions(body, ref reader, facts);
                        }
                        else
                        {
                            reader.Skip();
                        }

                        break;
                    case Known.PromptCacheKey:
                        facts.PromptCacheKey = reader.TokenType == JsonTokenType.String ? BoundedString(ref reader, "prompt_cache_key", ClientStringLimits.PromptCacheKey) : null;
                        reader.Skip();
                        break;
                    case Known.Store:
                        facts.StoreDisabled = reader.TokenType == JsonTokenType.False;
                        reader.Skip();
                        break;
                    case Known.PreviousResponseId:
                        facts.PreviousResponseId = reader.TokenType == JsonTokenType.String
                            ? BoundedString(ref reader, "previous_response_id", ClientStringLimits.ResponseId)
                            : null;
                        reader.Skip();
                        break;
                    case Known.Input:
                        kind = MemberKind.Input;
                        reader.Skip();
                        break;
                    default:
                        reader.Skip();
                        break;
                }

                facts.Members.Add(new RequestMember(kind, start, valueStart, (int)reader.BytesConsumed, limitName, limitValue));
            }

            if (reader.TokenType != JsonTokenType.EndObject)
            {
                error = GatewayErrors.InvalidJson("the body is not a complete JSON object");
                return false;
            }

            if (reader.Read())
            {
                error = GatewayErrors.InvalidJson($"unexpected content after the JSON object at byte {reader.TokenStartIndex}");
                return false;
            }
        }
        catch (JsonException ex)
        {
            error = GatewayErrors.InvalidJson(Describe(ex));
            return false;
        }
        catch (InvalidOperationException)
        {
            // A \u escape that makes no valid text (a lone surrogate): the body says something no reader can agree on.
            error = GatewayErrors.InvalidUtf8(null);
            return false;
        }
        catch (InvalidParameterException ex)
        {
            error = ex.Error ?? GatewayErrors.InvalidParameter(ex.Param, ex.Message);
            return false;
        }

        if (string.IsNullOrWhiteSpace(facts.Model))
        {
            error = GatewayErrors.MissingModel();
            return false;
        }

        return true;
    }

    /// <summary>A string value, refused with a 400 naming the field and its bound when it is longer than <paramref name="limit"/> characters.</summary>
    private static string BoundedString(ref Utf8JsonReader reader, string field, int limit)
    {
        // Escaped or not, a value of more than 6 bytes per character cannot fit.
        if (reader.ValueSpan.Length > limit * 6L || reader.ValueSpan.Length > limit * 4L && !reader.ValueIsEscaped)
        {
            throw new InvalidParameterException(field, GatewayErrors.TooLong(field, limit));
        }

        var value = reader.GetString()!;
        if (value.Length > limit)
        {
            throw new InvalidParameterException(field, GatewayErrors.TooLong(field, limit));
        }

        return value;
    }

    private static void ReadStreamOptions(ReadOnlySpan<byte> body, ref Utf8JsonReader reader, RequestFacts facts)
    {
        var names = new NameSet();
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            names.Add(body, ref reader, "stream_options");
            if (reader.ValueTextEquals("include_usage"u8))
            {
                reader.Read();
                facts.IncludeUsage = reader.TokenType == JsonTokenType.True;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    /// <summary>Which of the fields TokenPool reads a member name is (compared unescaped, as every reader compares them).</summary>
    private static Known Field(ref Utf8JsonReader reader) =>
        reader.ValueTextEquals("model"u8) ? Known.Model
        : reader.ValueTextEquals("stream"u8) ? Known.Stream
        : reader.ValueTextEquals("max_output_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8) || reader.ValueTextEquals("max_tokens"u8) ? Known.OutputLimit
        : reader.ValueTextEquals("stream_options"u8) ? Known.StreamOptions
        : reader.ValueTextEquals("prompt_cache_key"u8) ? Known.PromptCacheKey
        : reader.ValueTextEquals("store"u8) ? Known.Store
        : reader.ValueTextEquals("previous_response_id"u8) ? Known.PreviousResponseId
        : reader.ValueTextEquals("input"u8) ? Known.Input
        : Known.None;

    /// <summary>Where the first byte that is not valid UTF-8 is.</summary>
    private static int InvalidUtf8At(ReadOnlySpan<byte> body)
    {
        var at = 0;
        while (at < body.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(body[at..], out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                return at;
            }

            at += consumed;
        }

        return at;
    }

    private static string Describe(JsonException ex)
    {
        var message = new StringBuilder();
        message.Append("invalid JSON");
        if (ex.BytePositionInLine is { } position)
        {
            message.Append(" at line ").Append((ex.LineNumber ?? 0) + 1).Append(", byte ").Append(position + 1);
        }

        return message.ToString();
    }

    /// <summary>
    /// The member names of one object, to refuse a name given twice. Names are compared as every reader compares
    /// them, unescaped: an escaped name (rare) is unescaped first, the others are compared where they lie.
    /// </summary>
    private struct NameSet
    {
        private List<(int Start, int Length)>? _raw;
        private List<string>? _escaped;

        public void Add(ReadOnlySpan<byte> body, ref Utf8JsonReader reader, string where)
        {
            if (reader.ValueIsEscaped || _escaped is not null)
            {
                AddEscaped(body, ref reader, where);
                return;
            }

            _raw ??= new List<(int, int)>(16);
            var start = (int)reader.TokenStartIndex + 1;
            var name = reader.ValueSpan;
            foreach (var (seenStart, seenLength) in _raw)
            {
                if (body.Slice(seenStart, seenLength).SequenceEqual(name))
                {
                    throw Duplicate(Encoding.UTF8.GetString(name), where);
                }
            }

            _raw.Add((start, name.Length));
        }

        private void AddEscaped(ReadOnlySpan<byte> body, ref Utf8JsonReader reader, string where)
        {
            if (_escaped is null)
            {
                _escaped = [];
                foreach (var (seenStart, seenLength) in _raw ?? [])
                {
                    _escaped.Add(Encoding.UTF8.GetString(body.Slice(seenStart, seenLength)));
                }
            }

            var name = reader.GetString()!;
            if (_escaped.Contains(name, StringComparer.Ordinal))
            {
                throw Duplicate(name, where);
            }

            _escaped.Add(name);
        }

        private static InvalidParameterException Duplicate(string name, string where) =>
            new(name, GatewayErrors.DuplicateKey(name.Length > 64 ? name[..64] + "…" : name, where));
    }

    private enum Known
    {
        None,
        Model,
        Stream,
        OutputLimit,
        StreamOptions,
        PromptCacheKey,
        Store,
        PreviousResponseId,
        Input,
    }

    private sealed class InvalidParameterException : Exception
    {
        public InvalidParameterException(string param, string message)
            : base(message) => Param = param;

        public InvalidParameterException(string param, ApiError error)
            : base(error.Message)
        {
            Param = param;
            Error = error;
        }

        public string Param { get; }

        public ApiError? Error { get; }
    }
}
