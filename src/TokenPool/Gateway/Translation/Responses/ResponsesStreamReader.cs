using System.Text.Json;
using TokenPool.Gateway.Translation.Chat;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Responses;

/// <summary>
/// Reads a Responses API stream from an upstream (protocols §4.1, §4.2) into answer events, by each event's
/// <c>type</c>:
/// <list type="bullet">
/// <item><c>response.output_item.added</c>: a reasoning item opens reasoning; a <c>function_call</c> starts a call keyed by its <c>output_index</c>;</item>
/// <item><c>response.reasoning_summary_text.delta</c> and <c>response.reasoning_text.delta</c> → reasoning (a new summary part is a new paragraph);
/// <c>response.output_text.delta</c> and <c>response.refusal.delta</c> → text; <c>response.function_call_arguments.delta</c> → arguments;</item>
/// <item><c>response.output_item.done</c>: a reasoning item's <c>encrypted_content</c> becomes what goes back next turn; a call that
/// streamed no arguments gets them from the finished item;</item>
/// <item><c>response.completed</c> / <c>response.incomplete</c>: usage, the finish reason, the end; <c>response.failed</c> and
/// <c>error</c>: the failure.</item>
/// </list>
/// </summary>
internal sealed class ResponsesStreamReader(IReplySink sink) : UpstreamStreamReader(sink)
{
    private readonly HashSet<int> _callsWithArguments = [];
    private readonly HashSet<int> _calls = [];
    private int _summaryIndex = -1;
    private bool _calledTools;
    private bool _textSeen;

    protected override void OnEvent(ReadOnlySpan<byte> name, ReadOnlySpan<byte> data)
    {
        try
        {
            Read(data);
        }
        catch (JsonException)
        {
            // Not JSON: skipped.
        }
    }

    /// <summary>Reads one event (also used for the events of a whole body).</summary>
    private void Read(ReadOnlySpan<byte> data)
    {
        var type = Gateway.Streaming.UsageReader.EventType(data);
        if (type.IsEmpty || type.SequenceEqual("keepalive"u8) || type.SequenceEqual("response.created"u8) || type.SequenceEqual("response.in_progress"u8))
        {
            return;
        }

        var fields = ReadFields(data);
        if (type.SequenceEqual("response.output_text.delta"u8) || type.SequenceEqual("response.refusal.delta"u8))
        {
            _textSeen = true;
            Sink.Text(fields.Delta(data));
        }
        else if (type.SequenceEqual("response.reasoning_summary_text.delta"u8) || type.SequenceEqual("response.reasoning_text.delta"u8))
        {
            if (fields.SummaryIndex > _summaryIndex)
            {
                if (_summaryIndex >= 0)
                {
                    Sink.Reasoning("\\n\\n"u8);
                }

                _summaryIndex = fields.SummaryIndex;
            }

            Sink.Reasoning(fields.Delta(data));
        }
        else if (type.SequenceEqual("response.function_call_arguments.delta"u8))
        {
            _callsWithArguments.Add(fields.OutputIndex);
            Sink.ToolArguments(fields.OutputIndex, fields.Delta(data));
        }
        else if (type.SequenceEqual("response.output_item.added"u8))
        {
            if (fields.ItemType == "message")
            {
                _textSeen = false;
            }
            else if (fields.ItemType == "reasoning")
            {
                _summaryIndex = -1;
                Sink.ReasoningOrigin(ReasoningOrigin.Responses, default);
            }
            else if (fields.ItemType == "function_call" && fields.Name is not null)
            {
                _calledTools = true;
                _calls.Add(fields.OutputIndex);
                Sink.ToolCall(fields.OutputIndex, fields.CallId ?? $"call_{fields.OutputIndex}", fields.Name);
            }
        }
        else if (type.SequenceEqual("response.output_item.done"u8))
        {
            if (fields.ItemType == "reasoning")
            {
                if (fields.Encrypted.Length > 0)
                {
                    Sink.ReasoningOrigin(ReasoningOrigin.Responses, data.Slice(fields.Encrypted.Start, fields.Encrypted.Length));
                }

                Sink.ReasoningEnd();
            }
            else if (fields.ItemType == "function_call")
            {
                if (!_calls.Contains(fields.OutputIndex) && fields.Name is not null)
                {
                    _calledTools = true;
                    _calls.Add(fields.OutputIndex);
                    Sink.ToolCall(fields.OutputIndex, fields.CallId ?? $"call_{fields.OutputIndex}", fields.Name);
                }

                if (!_callsWithArguments.Contains(fields.OutputIndex) && fields.Arguments.Length > 0)
                {
                    Sink.ToolArguments(fields.OutputIndex, data.Slice(fields.Arguments.Start, fields.Arguments.Length));
                }

                Sink.ToolCallEnd(fields.OutputIndex);
            }
            else if (fields.ItemType == "message" && fields.Text.Length > 0 && !_textSeen)
            {
                Sink.Text(data.Slice(fields.Text.Start, fields.Text.Length));
            }
        }
        else if (type.SequenceEqual("response.completed"u8) || type.SequenceEqual("response.incomplete"u8))
        {
            if (fields.Usage is { } usage)
            {
                Sink.Usage(usage);
            }

            Sink.Finish(fields.IncompleteReason switch
            {
                "max_output_tokens" => FinishReason.Length,
                "content_filter" => FinishReason.ContentFilter,
                _ => type.SequenceEqual("response.incomplete"u8) ? FinishReason.Length : _calledTools ? FinishReason.ToolCalls : FinishReason.Stop,
            }, null);
            Sink.Completed();
            Ended = true;
        }
        else if (type.SequenceEqual("response.failed"u8) || type.SequenceEqual("error"u8))
        {
            Sink.Failed(fields.Error ?? UpstreamFailure.From(null, null, null));
            Ended = true;
        }
    }

    private static EventFields ReadFields(ReadOnlySpan<byte> data)
    {
        var fields = new EventFields();
        var reader = new Utf8JsonReader(data);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("delta"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    fields.DeltaSlice = ((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
                }
            }
            else if (reader.ValueTextEquals("output_index"u8))
            {
                reader.Read();
                fields.OutputIndex = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var index) ? index : 0;
            }
            else if (reader.ValueTextEquals("summary_index"u8))
            {
                reader.Read();
                fields.SummaryIndex = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var index) ? index : 0;
            }
            else if (reader.ValueTextEquals("item"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadItem(ref reader, ref fields);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("response"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadResponse(ref reader, ref fields);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("code"u8) || reader.ValueTextEquals("message"u8))
            {
                // A bare error event: {"type":"error","code","message"}.
                var isCode = reader.ValueTextEquals("code"u8);
                reader.Read();
                var value = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                fields.ErrorCode = isCode ? value : fields.ErrorCode;
                fields.Error = UpstreamFailure.From(null, fields.ErrorCode, null);
            }
            else if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    fields.Error = UpstreamFailure.Read(ref reader);
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

        return fields;
    }

    private static void ReadItem(ref Utf8JsonReader reader, ref EventFields fields)
    {
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                fields.ItemType = reader.GetString();
            }
            else if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                fields.Name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("call_id"u8))
            {
                reader.Read();
                fields.CallId = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("arguments"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    fields.Arguments = ((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
                }
            }
            else if (reader.ValueTextEquals("encrypted_content"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    fields.Encrypted = ((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
                }
            }
            else if (reader.ValueTextEquals("content"u8))
            {
                // A message item's text, used only when no deltas came before its done event.
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }

                while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                {
                    var partDepth = reader.CurrentDepth;
                    while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == partDepth))
                    {
                        if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("text"u8))
                        {
                            reader.Read();
                            if (reader.TokenType == JsonTokenType.String && fields.Text.Length == 0)
                            {
                                fields.Text = ((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
                            }
                        }
                        else if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                        {
                            reader.Skip();
                        }
                    }
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private static void ReadResponse(ref Utf8JsonReader reader, ref EventFields fields)
    {
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    fields.Usage = ReadUsage(ref reader);
                }
                else
                {
                    reader.Skip();
                }
            }
            else if (reader.ValueTextEquals("incomplete_details"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartObject)
                {
                    reader.Skip();
                    continue;
                }

                var detailsDepth = reader.CurrentDepth;
                while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == detailsDepth))
                {
                    if (reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("reason"u8))
                    {
                        reader.Read();
                        fields.IncompleteReason = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    }
                }
            }
            else if (reader.ValueTextEquals("error"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    fields.Error = UpstreamFailure.Read(ref reader);
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

    /// <summary>A Responses usage object (see <see cref="ReplyUsage"/> for the table).</summary>
    public static ReplyUsage ReadUsage(ref Utf8JsonReader reader)
    {
        long input = 0, cached = 0, output = 0, reasoning = 0;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("input_tokens"u8))
            {
                input = ChatStreamReader.Count(ref reader);
            }
            else if (reader.ValueTextEquals("output_tokens"u8))
            {
                output = ChatStreamReader.Count(ref reader);
            }
            else if (reader.ValueTextEquals("input_tokens_details"u8))
            {
                cached = ChatStreamReader.Detail(ref reader, "cached_tokens"u8);
            }
            else if (reader.ValueTextEquals("output_tokens_details"u8))
            {
                reasoning = ChatStreamReader.Detail(ref reader, "reasoning_tokens"u8);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return new ReplyUsage(input, cached, 0, output, reasoning);
    }

    private struct EventFields
    {
        public (int Start, int Length) DeltaSlice;
        public int OutputIndex;
        public int SummaryIndex;
        public string? ItemType;
        public string? Name;
        public string? CallId;
        public (int Start, int Length) Arguments;
        public (int Start, int Length) Encrypted;
        public (int Start, int Length) Text;
        public ReplyUsage? Usage;
        public string? IncompleteReason;
        public string? ErrorCode;
        public ApiError? Error;

        public readonly ReadOnlySpan<byte> Delta(ReadOnlySpan<byte> data) => data.Slice(DeltaSlice.Start, DeltaSlice.Length);
    }
}
