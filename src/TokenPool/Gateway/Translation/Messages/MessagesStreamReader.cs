using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Messages;

/// <summary>
/// Reads an Anthropic Messages stream from an upstream (protocols §10.4) into answer events:
/// <list type="bullet">
/// <item><c>message_start</c>: the input side of the usage;</item>
/// <item><c>content_block_start</c>/<c>_delta</c>/<c>_stop</c> by block <c>index</c>: <c>thinking</c> (its <c>thinking_delta</c> text and
/// <c>signature_delta</c>, carried to the next turn), <c>redacted_thinking</c> (its <c>data</c>, carried), <c>text</c>,
/// <c>tool_use</c> (keyed by the block index, <c>input_json_delta</c> as arguments); server-tool blocks are skipped;</item>
/// <item><c>message_delta</c>: the stop reason and the output side of the usage (Anthropic's figures there are
/// running totals for this message: the last one is taken, not added up);</item>
/// <item><c>message_stop</c> completes the answer; <c>event: error</c> fails it; <c>ping</c> is ignored.</item>
/// </list>
/// </summary>
internal sealed class MessagesStreamReader(IReplySink sink) : UpstreamStreamReader(sink)
{
    private readonly List<(int Index, BlockKind Kind)> _blocks = [];
    private long _input;
    private long _cacheRead;
    private long _cacheWrite;
    private long _output;
    private bool _usageSeen;
    private FinishReason _finish;
    private string? _stopSequence;

    private enum BlockKind
    {
        Other,
        Thinking,
        Text,
        Tool,
    }

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

    private void Read(ReadOnlySpan<byte> data)
    {
        var type = Gateway.Streaming.UsageReader.EventType(data);
        var reader = new Utf8JsonReader(data);
        reader.Read();
        if (type.SequenceEqual("content_block_delta"u8))
        {
            ReadDelta(ref reader, data);
        }
        else if (type.SequenceEqual("content_block_start"u8))
        {
            ReadStart(ref reader, data);
        }
        else if (type.SequenceEqual("content_block_stop"u8))
        {
            var index = ReadIndex(ref reader);
            switch (Kind(index))
            {
                case BlockKind.Thinking:
                    Sink.ReasoningEnd();
                    break;
                case BlockKind.Tool:
                    Sink.ToolCallEnd(index);
                    break;
            }
        }
        else if (type.SequenceEqual("message_start"u8))
        {
            ReadMessageFields(ref reader);
        }
        else if (type.SequenceEqual("message_delta"u8))
        {
            // The stop reason and the final usage: the answer is whole even if message_stop never comes.
            ReadMessageFields(ref reader);
            if (_usageSeen)
            {
                Sink.Usage(Usage());
            }

            Sink.Finish(_finish == FinishReason.None ? FinishReason.Stop : _finish, _stopSequence);
        }
        else if (type.SequenceEqual("message_stop"u8))
        {
            Sink.Completed();
            Ended = true;
        }
        else if (type.SequenceEqual("error"u8))
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("error"u8) && reader.Read() && reader.TokenType == JsonTokenType.StartObject)
                {
                    Sink.Failed(UpstreamFailure.Read(ref reader));
                    Ended = true;
                    return;
                }

                reader.Skip();
            }

            Sink.Failed(UpstreamFailure.From(null, null, null));
            Ended = true;
        }
    }

    /// <summary>This message's usage by the pivot table: Anthropic's <c>input_tokens</c> leaves out cache reads and writes.</summary>
    private ReplyUsage Usage() => new(_input + _cacheRead + _cacheWrite, _cacheRead, _cacheWrite, _output, 0);

    private void ReadStart(ref Utf8JsonReader reader, ReadOnlySpan<byte> data)
    {
        var index = -1;
        string? blockType = null, id = null, name = null;
        (int Start, int Length) text = default, blob = default;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("index"u8))
            {
                reader.Read();
                index = reader.TryGetInt32(out var value) ? value : -1;
            }
            else if (reader.ValueTextEquals("content_block"u8) && reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                var depth = reader.CurrentDepth;
                while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
                {
                    if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
                    {
                        continue;
                    }

                    var field = reader.ValueTextEquals("type"u8) ? 1 : reader.ValueTextEquals("id"u8) ? 2 : reader.ValueTextEquals("name"u8) ? 3
                        : reader.ValueTextEquals("text"u8) || reader.ValueTextEquals("thinking"u8) ? 4 : reader.ValueTextEquals("data"u8) ? 5 : 0;
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.String)
                    {
                        reader.Skip();
                        continue;
                    }

                    switch (field)
                    {
                        case 1: blockType = reader.GetString(); break;
                        case 2: id = reader.GetString(); break;
                        case 3: name = reader.GetString(); break;
                        case 4: text = ((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length); break;
                        case 5: blob = ((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length); break;
                    }
                }
            }
            else
            {
                reader.Skip();
            }
        }

        switch (blockType)
        {
            case "thinking":
                _blocks.Add((index, BlockKind.Thinking));
                Sink.ReasoningOrigin(ReasoningOrigin.MessagesThinking, default);
                if (text.Length > 0)
                {
                    Sink.Reasoning(data.Slice(text.Start, text.Length));
                }

                break;
            case "redacted_thinking":
                _blocks.Add((index, BlockKind.Thinking));
                Sink.ReasoningOrigin(ReasoningOrigin.MessagesRedacted, data.Slice(blob.Start, blob.Length));
                break;
            case "text":
                _blocks.Add((index, BlockKind.Text));
                if (text.Length > 0)
                {
                    Sink.Text(data.Slice(text.Start, text.Length));
                }

                break;
            case "tool_use":
                _blocks.Add((index, BlockKind.Tool));
                Sink.ToolCall(index, id ?? $"toolu_{index}", name ?? "");
                break;
            default:
                _blocks.Add((index, BlockKind.Other));
                break;
        }
    }

    private void ReadDelta(ref Utf8JsonReader reader, ReadOnlySpan<byte> data)
    {
        var index = -1;
        var deltaType = 0;
        (int Start, int Length) value = default;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("index"u8))
            {
                reader.Read();
                index = reader.TryGetInt32(out var i) ? i : -1;
            }
            else if (reader.ValueTextEquals("delta"u8) && reader.Read() && reader.TokenType == JsonTokenType.StartObject)
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
                        deltaType = reader.ValueTextEquals("text_delta"u8) ? 1 : reader.ValueTextEquals("thinking_delta"u8) ? 2
                            : reader.ValueTextEquals("signature_delta"u8) ? 3 : reader.ValueTextEquals("input_json_delta"u8) ? 4 : 0;
                    }
                    else
                    {
                        reader.Read();
                        if (reader.TokenType == JsonTokenType.String)
                        {
                            value = ((int)reader.TokenStartIndex + 1, reader.ValueSpan.Length);
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
            }
            else
            {
                reader.Skip();
            }
        }

        var slice = data.Slice(value.Start, value.Length);
        switch (deltaType)
        {
            case 1 when Kind(index) == BlockKind.Text:
                Sink.Text(slice);
                break;
            case 2:
                Sink.Reasoning(slice);
                break;
            case 3:
                Sink.ReasoningOrigin(ReasoningOrigin.MessagesThinking, slice);
                break;
            case 4 when Kind(index) == BlockKind.Tool:
                Sink.ToolArguments(index, slice);
                break;
        }
    }

    private void ReadMessageFields(ref Utf8JsonReader reader)
    {
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName)
            {
                continue;
            }

            if (reader.ValueTextEquals("usage"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    ReadUsage(ref reader);
                }
            }
            else if (reader.ValueTextEquals("stop_reason"u8))
            {
                reader.Read();
                if (reader.TokenType == JsonTokenType.String)
                {
                    _finish = reader.GetString() switch
                    {
                        "max_tokens" or "model_context_window_exceeded" => FinishReason.Length,
                        "tool_use" => FinishReason.ToolCalls,
                        "stop_sequence" => FinishReason.StopSequence,
                        "refusal" => FinishReason.ContentFilter,
                        _ => FinishReason.Stop,
                    };
                }
            }
            else if (reader.ValueTextEquals("stop_sequence"u8))
            {
                reader.Read();
                _stopSequence = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("content"u8))
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    /// <summary>Reads Anthropic usage figures present in this event over those seen before.</summary>
    private void ReadUsage(ref Utf8JsonReader reader)
    {
        _usageSeen = true;
        var depth = reader.CurrentDepth;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }

            if (reader.ValueTextEquals("input_tokens"u8))
            {
                _input = Number(ref reader, _input);
            }
            else if (reader.ValueTextEquals("cache_read_input_tokens"u8))
            {
                _cacheRead = Number(ref reader, _cacheRead);
            }
            else if (reader.ValueTextEquals("cache_creation_input_tokens"u8))
            {
                _cacheWrite = Number(ref reader, _cacheWrite);
            }
            else if (reader.ValueTextEquals("output_tokens"u8))
            {
                _output = Number(ref reader, _output);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private static long Number(ref Utf8JsonReader reader, long previous)
    {
        reader.Read();
        return reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) ? value : previous;
    }

    private static int ReadIndex(ref Utf8JsonReader reader)
    {
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("index"u8))
            {
                reader.Read();
                return reader.TryGetInt32(out var index) ? index : -1;
            }

            reader.Skip();
        }

        return -1;
    }

    private BlockKind Kind(int index)
    {
        foreach (var (i, kind) in _blocks)
        {
            if (i == index)
            {
                return kind;
            }
        }

        return BlockKind.Other;
    }
}
