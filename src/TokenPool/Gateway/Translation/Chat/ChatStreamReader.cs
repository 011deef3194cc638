using System.Globalization;
using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Chat;

/// <summary>
/// Reads a Chat Completions stream from an upstream (vLLM, Ollama, DeepSeek, SGLang, OpenAI; protocols §3, §11.1)
/// into answer events:
/// <list type="number">
/// <item>each chunk's first choice: <c>delta.reasoning_content</c> or <c>delta.reasoning</c> as reasoning, then
/// <c>delta.content</c> (and <c>refusal</c>) as text, then <c>delta.tool_calls</c>;</item>
/// <item>tool-call fragments keyed by their <c>index</c>: a call starts once its name is known (fragments that came
/// before are held until then), whole calls in one chunk (Ollama) work the same; a missing id is made up;</item>
/// <item><c>finish_reason</c> ends every call (Ollama's <c>stop</c> after calls counts as <c>tool_calls</c>; vLLM's
/// <c>stop_reason</c> tells a matched stop sequence);</item>
/// <item>a <c>usage</c> object in any chunk (the usage chunk, or every chunk with vLLM's continuous stats): the last
/// one wins, never summed;</item>
/// <item><c>data: {"error":…}</c> or SGLang's flat <c>{"object":"error",…}</c> fails the answer; <c>[DONE]</c> completes it.</item>
/// </list>
/// </summary>
internal sealed class ChatStreamReader : UpstreamStreamReader
{
    private readonly List<CallState> _calls = [];
    private readonly string _callPrefix;
    private readonly BridgeContext _context;
    private bool _reasoningSeen;

    public ChatStreamReader(IReplySink sink, BridgeOptions options)
        : base(sink)
    {
        _context = options.Context ?? BridgeContext.Empty;
        var tail = options.ResponseId.AsSpan();
        var underscore = tail.IndexOf('_');
        var dash = tail.IndexOf('-');
        var cut = underscore >= 0 ? underscore : dash;
        _callPrefix = "call_" + (cut >= 0 ? tail[(cut + 1)..].ToString() : tail.ToString()) + "_";
    }

    /// <summary>Reads a whole (non-streamed) <c>chat.completion</c> body: its <c>message</c> reads as one big delta.</summary>
    public void ReadWhole(ReadOnlySpan<byte> body)
    {
        ReadChunk(body);
        if (!Ended)
        {
            EndCalls();
            Sink.Completed();
            Ended = true;
        }
    }

    protected override void OnEvent(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data)
    {
        if (data.SequenceEqual("[DONE]"u8))
        {
            EndCalls();
            Sink.Completed();
            Ended = true;
            return;
        }

        try
        {
            ReadChunk(data);
        }
        catch (JsonException)
        {
            // Not JSON: skipped, as the clients skip it.
        }
    }

    private void ReadChunk(ReadOnlySpan<byte> data)
    {
        var reader = new Utf8JsonReader(data);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return;
        }

        var flatError = false;
        string? flatMessage = null;
        string? flatType = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("choices"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    var first = true;
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        if (first && reader.TokenType == JsonTokenType.StartObject)
                        {
                            ReadChoice(ref reader, data);
                        }
                        else
                        {
                            reader.Skip();
                        }

                        first = false;
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    Sink.Usage(ReadUsage(ref reader));
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    Sink.Failed(UpstreamFailure.Read(ref reader));
                    Ended = true;
                    return;
                }

                reader.Skip();
            }
            else if (reader.ValueTextEquals("object"u8))
            {
                reader.Read();
                flatError = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("error"u8);
            }
            else if (reader.ValueTextEquals("message"u8) || reader.ValueTextEquals("type"u8))
            {
                var isMessage = reader.ValueTextEquals("message"u8);
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    if (isMessage)
                    {
                        flatMessage = reader.GetString();
                    }
                    else
                    {
                        flatType = reader.GetString();
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (flatError)
        {
            Sink.Failed(UpstreamFailure.From(flatType, null, flatMessage));
            Ended = true;
        }
    }

    private void ReadChoice(ref Utf8JsonReader reader, ReadOnlySpan<byte> data)
    {
        string? finish = null;
        string? stopReason = null;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("delta"u8) || reader.ValueTextEquals("message"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadDelta(ref reader, data);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("finish_reason"u8))
            {
                reader.Read();
                finish = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("stop_reason"u8) || reader.ValueTextEquals("matched_stop"u8))
            {
                reader.Read();
                stopReason = reader.TokenType == JsonTokenType.String ? reader.GetString() : stopReason;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (finish is not null)
        {
            OnFinish(finish, stopReason);
        }
    }

    private void ReadDelta(ref Utf8JsonReader reader, ReadOnlySpan<byte> data)
    {
        (int Start, int Length) content = default, reasoning = default;
        var origin = ReasoningOrigin.None;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("refusal"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0)
                {
                    content = Slice(ref reader);
                }
            }
            else if (reader.ValueTextEquals("reasoning_content"u8) || reader.ValueTextEquals("reasoning"u8))
            {
                var field = reader.ValueTextEquals("reasoning_content"u8) ? ReasoningOrigin.ChatReasoningContent : ReasoningOrigin.ChatReasoning;
                reader.Read();
                if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0 && reasoning.Length == 0)
                {
                    reasoning = Slice(ref reader);
                    origin = field;
                }
            }
            else if (reader.ValueTextEquals("tool_calls"u8))
            {
                // Text and reasoning in the same delta come first.
                Emit(data, reasoning, origin, content);
                reasoning = default;
                content = default;
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartArray)
                {
                    while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                    {
                        ReadToolCall(ref reader, data);
                    }
                }
                else
                {
                    reader.Skip();
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        Emit(data, reasoning, origin, content);
    }

    private void Emit(ReadOnlySpan<byte> data, (int Start, int Length) reasoning, ReasoningOrigin origin, (int Start, int Length) content)
    {
        if (reasoning.Length > 0)
        {
            if (!_reasoningSeen)
            {
                _reasoningSeen = true;
                Sink.ReasoningOrigin(origin, default);
            }

            Sink.Reasoning(data.Slice(reasoning.Start, reasoning.Length));
        }

        if (content.Length > 0)
        {
            _reasoningSeen = false;
            Sink.Text(data.Slice(content.Start, content.Length));
        }
    }

    private void ReadToolCall(ref Utf8JsonReader reader, ReadOnlySpan<byte> data)
    {
        var index = -1;
        string? id = null;
        string? name = null;
        (int Start, int Length) arguments = default;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("index"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var value))
                {
                    index = value;
                }
            }
            else if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0)
                {
                    id = reader.GetString();
                }
            }
            else if (reader.ValueTextEquals("function"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                var functionDepth = reader.CurrentDepth;
                while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == functionDepth))
                {
                    if (reader.TokenType != JsonTokenType.PropertyName)
                    {
                        continue;
                    }

                    if (reader.ValueTextEquals("name"u8))
                    {
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.String && reader.ValueSpan.Length > 0)
                        {
                            name = reader.GetString();
                        }
                    }
                    else if (reader.ValueTextEquals("arguments"u8))
                    {
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.String)
                        {
                            arguments = Slice(ref reader);
                        }
                        else if (reader.TokenType == JsonTokenType.StartObject)
                        {
                            // A few servers send the arguments as an object rather than a JSON string.
                            var start = (int)reader.TokenStartIndex;
                            reader.Skip();
                            var objectText = data[start..((int)reader.TokenStartIndex + 1)];
                            ApplyCall(index < 0 ? _calls.Count : index, id, name, default, JsonText.Escape(System.Text.Encoding.UTF8.GetString(objectText)));
                            id = null;
                            name = null;
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                    else
                    {
                        reader.Read();
                        reader.Skip();
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (index < 0)
        {
            // No index (some servers send one call per chunk without it): a new call when it names itself, else the last one.
            index = name is not null || _calls.Count == 0 ? _calls.Count : _calls[^1].Index;
        }

        ApplyCall(index, id, name, arguments.Length > 0 ? data.Slice(arguments.Start, arguments.Length) : default, null);
    }

    private void ApplyCall(int index, string? id, string? name, ReadOnlySpan<byte> fragment, byte[]? wholeArguments)
    {
        var call = FindCall(index);
        if (call is null)
        {
            call = new CallState(index);
            _calls.Add(call);
        }

        call.Id ??= id;
        if (name is not null && !call.Started)
        {
            call.Name = call.Name is null ? name : call.Name + name;
        }

        if (wholeArguments is not null)
        {
            fragment = wholeArguments;
        }

        if (!call.Started)
        {
            call.Pending.Append(fragment);
            if (call.Name is not null)
            {
                _reasoningSeen = false;
                call.Started = true;
                Sink.ToolCall(index, call.Id ?? _callPrefix + index.ToString(CultureInfo.InvariantCulture), call.Name);
                if (!call.Pending.IsEmpty)
                {
                    Sink.ToolArguments(index, call.Pending.Span);
                }

                call.Pending.Dispose();
            }
        }
        else if (!fragment.IsEmpty)
        {
            Sink.ToolArguments(index, fragment);
        }
    }

    private void OnFinish(string finish, string? stopReason)
    {
        var anyCall = false;
        foreach (var call in _calls)
        {
            anyCall |= call.Started;
        }

        EndCalls();
        var reason = finish switch
        {
            "stop" when anyCall => FinishReason.ToolCalls,
            "stop" when stopReason is not null && _context.StopSequences.Contains(stopReason) => FinishReason.StopSequence,
            "stop" or "eos" or "end_turn" => FinishReason.Stop,
            "length" or "max_tokens" => FinishReason.Length,
            "tool_calls" or "function_call" or "tool_use" => FinishReason.ToolCalls,
            "content_filter" => FinishReason.ContentFilter,
            "insufficient_system_resource" or "abort" or "error" => FinishReason.Aborted,
            _ => anyCall ? FinishReason.ToolCalls : FinishReason.Stop,
        };
        Sink.Finish(reason, reason == FinishReason.StopSequence ? stopReason : null);
    }

    private void EndCalls()
    {
        foreach (var call in _calls)
        {
            if (call.Started && !call.Ended)
            {
                call.Ended = true;
                Sink.ToolCallEnd(call.Index);
            }

            call.Pending.Dispose();
        }
    }

    private CallState? FindCall(int index)
    {
        foreach (var call in _calls)
        {
            if (call.Index == index)
            {
                return call;
            }
        }

        return null;
    }

    private static (int Start, int Length) Slice(ref Utf8JsonReader reader) => ((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);

    /// <summary>A Chat usage object (see <see cref="ReplyUsage"/> for the table).</summary>
    public static ReplyUsage ReadUsage(ref Utf8JsonReader reader)
    {
        long input = 0, cached = 0, cacheHit = 0, output = 0, reasoning = 0, topReasoning = 0;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("prompt_tokens"u8))
            {
                input = Count(ref reader);
            }
            else if (reader.ValueTextEquals("completion_tokens"u8))
            {
                output = Count(ref reader);
            }
            else if (reader.ValueTextEquals("prompt_cache_hit_tokens"u8))
            {
                cacheHit = Count(ref reader);
            }
            else if (reader.ValueTextEquals("reasoning_tokens"u8))
            {
                topReasoning = Count(ref reader);
            }
            else if (reader.ValueTextEquals("prompt_tokens_details"u8))
            {
                cached = Detail(ref reader, "cached_tokens"u8);
            }
            else if (reader.ValueTextEquals("completion_tokens_details"u8))
            {
                reasoning = Detail(ref reader, "reasoning_tokens"u8);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new ReplyUsage(input, cached > 0 ? cached : cacheHit, 0, output, reasoning > 0 ? reasoning : topReasoning);
    }

    /// <summary>Reads the number that follows a property name (0 when it is not a whole number).</summary>
    internal static long Count(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value))
        {
            return value;
        }

        reader.Skip();
        return 0;
    }

    internal static long Detail(ref Utf8JsonReader reader, ReadOnlySpan<byte> name)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return 0;
        }

        long value = 0;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1)
            {
                if (reader.ValueTextEquals(name))
                {
                    value = Count(ref reader);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
        }

        return value;
    }

    private sealed class CallState(int index)
    {
        public int Index { get; } = index;

        public string? Id { get; set; }

        public string? Name { get; set; }

        public bool Started { get; set; }

        public bool Ended { get; set; }

        public ByteBuffer Pending { get; } = new();
    }
}
