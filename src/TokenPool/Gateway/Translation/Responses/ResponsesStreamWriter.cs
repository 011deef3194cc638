using System.Text;
using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Responses;

/// <summary>
/// Writes an answer as a Responses API stream, the way Codex and OpenCode need it (protocols §1.6, §2.5, §4.1):
/// <list type="number">
/// <item><c>response.created</c> and <c>response.in_progress</c> at the first upstream event;</item>
/// <item>every item opened with <c>response.output_item.added</c>, filled by its deltas and closed by its
/// <c>.done</c> events and <c>response.output_item.done</c> (Codex commits an item only from that event);
/// reasoning as one summary part (<c>summary_index</c> 0) whose <c>encrypted_content</c> is TokenPool's seal of what
/// the upstream needs back; a call to a custom tool as a <c>custom_tool_call</c> with
/// <c>response.custom_tool_call_input.delta</c>; Codex's tool search as a <c>tool_search_call</c>;</item>
/// <item><c>sequence_number</c> rising by one per event, one <c>output_index</c> and one id per item;</item>
/// <item>the end: <c>response.completed</c> with every finished item and this request's usage, or
/// <c>response.incomplete</c> (output limit, content filter) with <c>incomplete_details</c>, or
/// <c>response.failed</c> with an error code. Items still open at a failure are not closed: Codex would keep
/// them in its history and then retry the turn.</item>
/// </list>
/// Finished items are kept once, as the JSON written for their <c>output_item.done</c> (an array's inside), for the final event.
/// </summary>
internal sealed class ResponsesStreamWriter : ClientStreamWriter
{
    private readonly ReasoningSeal? _seal;
    private readonly ByteBuffer _done = new();
    private readonly Utf8JsonWriter _itemJson;
    private readonly string _idTail;
    private readonly List<ToolState> _tools = [];
    private readonly ByteBuffer _reasoning = new();
    private readonly ByteBuffer _blob = new();
    private readonly ByteBuffer _text = new();
    private readonly ByteBuffer _delta = new();

    private int _sequence;
    private int _nextOutput;
    private int _nextItem;
    private bool _started;

    private bool _reasoningOpen;
    private bool _summaryOpen;
    private string _reasoningId = "";
    private int _reasoningIndex;
    private ReasoningOrigin _origin;

    private bool _messageOpen;
    private string _messageId = "";
    private int _messageIndex;

    private ReplyUsage? _usage;
    private FinishReason _finish;

    public ResponsesStreamWriter(BridgeOptions options, ReasoningSeal? seal)
        : base(options)
    {
        _seal = seal;
        _itemJson = new Utf8JsonWriter(_done, new JsonWriterOptions { Encoder = ApiError.WriterOptions.Encoder, SkipValidation = true });
        _idTail = options.ResponseId.StartsWith("resp_", StringComparison.Ordinal) ? options.ResponseId[5..] : options.ResponseId;
    }

    public override bool HasFinish => _finish != FinishReason.None;

    public override void Begin()
    {
        if (!Ended)
        {
            EnsureStarted();
        }
    }

    public override void Reasoning(ReadOnlySpan<byte> text)
    {
        if (Ended)
        {
            return;
        }

        OpenReasoning();
        if (text.IsEmpty)
        {
            return;
        }

        if (!_summaryOpen)
        {
            _summaryOpen = true;
            var added = Event("response.reasoning_summary_part.added"u8);
            ItemRef(added, _reasoningId, _reasoningIndex);
            added.WriteNumber("summary_index"u8, 0);
            added.WriteStartObject("part"u8);
            added.WriteString("type"u8, "summary_text"u8);
            added.WriteString("text"u8, ""u8);
            added.WriteEndObject();
            Close(added);
        }

        var json = Event("response.reasoning_summary_text.delta"u8);
        ItemRef(json, _reasoningId, _reasoningIndex);
        json.WriteNumber("summary_index"u8, 0);
        WriteEscaped(json, "delta"u8, text);
        Close(json);
        _reasoning.Append(text);
    }

    public override void ReasoningOrigin(ReasoningOrigin origin, ReadOnlySpan<byte> blob)
    {
        if (Ended)
        {
            return;
        }

        OpenReasoning();
        _origin = origin;
        _blob.Append(blob);
    }

    public override void ReasoningEnd()
    {
        if (!Ended)
        {
            CloseReasoning();
        }
    }

    public override void Text(ReadOnlySpan<byte> text)
    {
        if (Ended || text.IsEmpty)
        {
            return;
        }

        EnsureStarted();
        CloseReasoning();
        if (!_messageOpen)
        {
            _messageOpen = true;
            _messageId = NewId("msg_");
            _messageIndex = _nextOutput++;
            _text.Clear();
            var added = Event("response.output_item.added"u8);
            added.WriteNumber("output_index"u8, _messageIndex);
            added.WriteStartObject("item"u8);
            added.WriteString("type"u8, "message"u8);
            added.WriteString("id"u8, _messageId);
            added.WriteString("status"u8, "in_progress"u8);
            added.WriteString("role"u8, "assistant"u8);
            added.WriteStartArray("content"u8);
            added.WriteEndArray();
            added.WriteEndObject();
            Close(added);

            var part = Event("response.content_part.added"u8);
            ItemRef(part, _messageId, _messageIndex);
            part.WriteNumber("content_index"u8, 0);
            WriteTextPart(part, "part"u8, default);
            Close(part);
        }

        var json = Event("response.output_text.delta"u8);
        ItemRef(json, _messageId, _messageIndex);
        json.WriteNumber("content_index"u8, 0);
        WriteEscaped(json, "delta"u8, text);
        json.WriteStartArray("logprobs"u8);
        json.WriteEndArray();
        Close(json);
        _text.Append(text);
    }

    public override void ToolCall(int key, string callId, string name)
    {
        if (Ended)
        {
            return;
        }

        EnsureStarted();
        CloseReasoning();
        CloseMessage();
        var origin = Context.Resolve(name);
        var tool = new ToolState(key, origin, callId, _nextOutput++)
        {
            ItemId = NewId(origin.Kind switch { ToolKind.Custom => "ctc_", ToolKind.ToolSearch => "tsc_", _ => "fc_" }),
            Extractor = origin.Kind == ToolKind.Custom ? new CustomInputExtractor() : null,
        };
        _tools.Add(tool);

        var added = Event("response.output_item.added"u8);
        added.WriteNumber("output_index"u8, tool.OutputIndex);
        added.WriteStartObject("item"u8);
        WriteToolHead(added, tool);
        switch (origin.Kind)
        {
            case ToolKind.Custom:
                added.WriteString("input"u8, ""u8);
                break;
            case ToolKind.ToolSearch:
                added.WriteStartObject("arguments"u8);
                added.WriteEndObject();
                break;
            default:
                added.WriteString("arguments"u8, ""u8);
                break;
        }

        added.WriteString("status"u8, "in_progress"u8);
        added.WriteEndObject();
        Close(added);
    }

    public override void ToolArguments(int key, ReadOnlySpan<byte> fragment)
    {
        if (Ended || fragment.IsEmpty || Find(key) is not { Open: true } tool)
        {
            return;
        }

        tool.Arguments.Append(fragment);
        switch (tool.Origin.Kind)
        {
            case ToolKind.Function:
                var json = Event("response.function_call_arguments.delta"u8);
                ItemRef(json, tool.ItemId, tool.OutputIndex);
                WriteEscaped(json, "delta"u8, fragment);
                Close(json);
                break;
            case ToolKind.Custom:
                tool.Extractor!.Feed(fragment, _delta);
                if (!_delta.IsEmpty)
                {
                    var input = Event("response.custom_tool_call_input.delta"u8);
                    ItemRef(input, tool.ItemId, tool.OutputIndex);
                    WriteEscaped(input, "delta"u8, _delta.Span);
                    Close(input);
                }

                break;
        }
    }

    public override void ToolCallEnd(int key)
    {
        if (!Ended && Find(key) is { Open: true } tool)
        {
            CloseTool(tool);
        }
    }

    public override void Usage(in ReplyUsage usage) => _usage = Context.OwnUsage(usage);

    public override void Finish(FinishReason reason, string? stopSequence) => _finish = reason;

    public override void Failed(ApiError error)
    {
        if (Ended)
        {
            return;
        }

        EnsureStarted();
        var json = Event("response.failed"u8);
        WriteResponse(json, "failed"u8, error, null);
        Close(json);
        Ended = true;
    }

    public override void Completed()
    {
        if (Ended)
        {
            return;
        }

        if (_finish == FinishReason.Aborted)
        {
            Failed(new ApiError(502, "server_error", "server_error", "The upstream stopped generating this response before it was complete. Please try again."));
            return;
        }

        EnsureStarted();
        CloseReasoning();
        CloseMessage();
        foreach (var tool in _tools)
        {
            if (tool.Open)
            {
                CloseTool(tool);
            }
        }

        var incomplete = _finish switch
        {
            FinishReason.Length => "max_output_tokens",
            FinishReason.ContentFilter => "content_filter",
            _ => null,
        };
        var json = Event(incomplete is null ? "response.completed"u8 : "response.incomplete"u8);
        WriteResponse(json, incomplete is null ? "completed"u8 : "incomplete"u8, null, incomplete);
        Close(json);
        Ended = true;
    }

    public override void Dispose()
    {
        foreach (var tool in _tools)
        {
            tool.Dispose();
        }

        _itemJson.Dispose();
        _done.Dispose();
        _reasoning.Dispose();
        _blob.Dispose();
        _text.Dispose();
        _delta.Dispose();
        base.Dispose();
    }

    private void EnsureStarted()
    {
        if (_started)
        {
            return;
        }

        _started = true;
        var created = Event("response.created"u8);
        WriteResponse(created, "in_progress"u8, null, null);
        Close(created);
        var progress = Event("response.in_progress"u8);
        WriteResponse(progress, "in_progress"u8, null, null);
        Close(progress);
    }

    private void OpenReasoning()
    {
        EnsureStarted();
        if (_reasoningOpen)
        {
            return;
        }

        CloseMessage();
        _reasoningOpen = true;
        _summaryOpen = false;
        _origin = Pivot.ReasoningOrigin.None;
        _reasoning.Clear();
        _blob.Clear();
        _reasoningId = NewId("rs_");
        _reasoningIndex = _nextOutput++;
        var added = Event("response.output_item.added"u8);
        added.WriteNumber("output_index"u8, _reasoningIndex);
        added.WriteStartObject("item"u8);
        added.WriteString("type"u8, "reasoning"u8);
        added.WriteString("id"u8, _reasoningId);
        added.WriteStartArray("summary"u8);
        added.WriteEndArray();
        added.WriteNull("encrypted_content"u8);
        added.WriteEndObject();
        Close(added);
    }

    private void CloseReasoning()
    {
        if (!_reasoningOpen)
        {
            return;
        }

        _reasoningOpen = false;
        if (_summaryOpen)
        {
            var textDone = Event("response.reasoning_summary_text.done"u8);
            ItemRef(textDone, _reasoningId, _reasoningIndex);
            textDone.WriteNumber("summary_index"u8, 0);
            WriteEscaped(textDone, "text"u8, _reasoning.Span);
            Close(textDone);

            var partDone = Event("response.reasoning_summary_part.done"u8);
            ItemRef(partDone, _reasoningId, _reasoningIndex);
            partDone.WriteNumber("summary_index"u8, 0);
            partDone.WriteStartObject("part"u8);
            partDone.WriteString("type"u8, "summary_text"u8);
            WriteEscaped(partDone, "text"u8, _reasoning.Span);
            partDone.WriteEndObject();
            Close(partDone);
        }

        var sealedValue = _seal is not null && _origin != Pivot.ReasoningOrigin.None && !(_reasoning.IsEmpty && _blob.IsEmpty)
            ? _seal.Seal(_origin, _reasoning.Span, _blob.Span)
            : null;
        var start = BeginItem();
        _itemJson.WriteStartObject();
        _itemJson.WriteString("type"u8, "reasoning"u8);
        _itemJson.WriteString("id"u8, _reasoningId);
        _itemJson.WriteStartArray("summary"u8);
        if (_summaryOpen)
        {
            _itemJson.WriteStartObject();
            _itemJson.WriteString("type"u8, "summary_text"u8);
            WriteEscaped(_itemJson, "text"u8, _reasoning.Span);
            _itemJson.WriteEndObject();
        }

        _itemJson.WriteEndArray();
        if (sealedValue is null)
        {
            _itemJson.WriteNull("encrypted_content"u8);
        }
        else
        {
            _itemJson.WriteString("encrypted_content"u8, sealedValue);
        }

        _itemJson.WriteEndObject();
        ItemDone(start, _reasoningIndex);
        _summaryOpen = false;
    }

    private void CloseMessage()
    {
        if (!_messageOpen)
        {
            return;
        }

        _messageOpen = false;
        var textDone = Event("response.output_text.done"u8);
        ItemRef(textDone, _messageId, _messageIndex);
        textDone.WriteNumber("content_index"u8, 0);
        WriteEscaped(textDone, "text"u8, _text.Span);
        textDone.WriteStartArray("logprobs"u8);
        textDone.WriteEndArray();
        Close(textDone);

        var partDone = Event("response.content_part.done"u8);
        ItemRef(partDone, _messageId, _messageIndex);
        partDone.WriteNumber("content_index"u8, 0);
        WriteTextPart(partDone, "part"u8, _text.Span);
        Close(partDone);

        var start = BeginItem();
        _itemJson.WriteStartObject();
        _itemJson.WriteString("type"u8, "message"u8);
        _itemJson.WriteString("id"u8, _messageId);
        _itemJson.WriteString("status"u8, "completed"u8);
        _itemJson.WriteString("role"u8, "assistant"u8);
        _itemJson.WriteStartArray("content"u8);
        WriteTextPart(_itemJson, default, _text.Span);
        _itemJson.WriteEndArray();
        _itemJson.WriteEndObject();
        ItemDone(start, _messageIndex);
    }

    private void CloseTool(ToolState tool)
    {
        tool.Open = false;
        ReadOnlySpan<byte> input = default;
        switch (tool.Origin.Kind)
        {
            case ToolKind.Function:
                var argumentsDone = Event("response.function_call_arguments.done"u8);
                ItemRef(argumentsDone, tool.ItemId, tool.OutputIndex);
                argumentsDone.WriteString("name"u8, tool.Origin.Name);
                WriteEscaped(argumentsDone, "arguments"u8, tool.Arguments.Span);
                Close(argumentsDone);
                break;
            case ToolKind.Custom:
                input = tool.Extractor!.Finish();
                var inputDone = Event("response.custom_tool_call_input.done"u8);
                ItemRef(inputDone, tool.ItemId, tool.OutputIndex);
                WriteEscaped(inputDone, "input"u8, input);
                Close(inputDone);
                break;
        }

        var start = BeginItem();
        _itemJson.WriteStartObject();
        WriteToolHead(_itemJson, tool);
        switch (tool.Origin.Kind)
        {
            case ToolKind.Custom:
                WriteEscaped(_itemJson, "input"u8, input);
                break;
            case ToolKind.ToolSearch:
                _itemJson.WritePropertyName("arguments"u8);
                WriteJsonObject(_itemJson, tool.Arguments.Span);
                break;
            default:
                WriteEscaped(_itemJson, "arguments"u8, tool.Arguments.Span);
                break;
        }

        _itemJson.WriteString("status"u8, "completed"u8);
        _itemJson.WriteEndObject();
        ItemDone(start, tool.OutputIndex);
    }

    private static void WriteToolHead(Utf8JsonWriter json, ToolState tool)
    {
        switch (tool.Origin.Kind)
        {
            case ToolKind.Custom:
                json.WriteString("type"u8, "custom_tool_call"u8);
                break;
            case ToolKind.ToolSearch:
                json.WriteString("type"u8, "tool_search_call"u8);
                break;
            default:
                json.WriteString("type"u8, "function_call"u8);
                break;
        }

        json.WriteString("id"u8, tool.ItemId);
        json.WriteString("call_id"u8, tool.CallId);
        if (tool.Origin.Kind == ToolKind.ToolSearch)
        {
            json.WriteString("execution"u8, "client"u8);
            return;
        }

        json.WriteString("name"u8, tool.Origin.Name);
        if (tool.Origin.Namespace is { } ns)
        {
            json.WriteString("namespace"u8, ns);
        }
    }

    /// <summary>Writes arguments (escaped JSON text) as the JSON object they encode; an empty object when they are not one.</summary>
    private void WriteJsonObject(Utf8JsonWriter json, ReadOnlySpan<byte> escapedArguments)
    {
        var text = Encoding.UTF8.GetBytes(JsonText.Decode(escapedArguments));
        try
        {
            var reader = new Utf8JsonReader(text);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                reader.Skip();
                json.WriteRawValue(text, skipInputValidation: false);
                return;
            }
        }
        catch (JsonException)
        {
            // Not an object: fall through.
        }

        json.WriteStartObject();
        json.WriteEndObject();
    }

    private void WriteTextPart(Utf8JsonWriter json, ReadOnlySpan<byte> name, ReadOnlySpan<byte> text)
    {
        if (name.IsEmpty)
        {
            json.WriteStartObject();
        }
        else
        {
            json.WriteStartObject(name);
        }

        json.WriteString("type"u8, "output_text"u8);
        WriteEscaped(json, "text"u8, text);
        json.WriteStartArray("annotations"u8);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>Starts a finished item's JSON in the kept list; returns where it starts.</summary>
    private int BeginItem()
    {
        _done.Append(_done.IsEmpty ? (byte)'[' : (byte)',');

        _itemJson.Reset(_done);
        return _done.Length;
    }

    /// <summary>Ends the item begun by <see cref="BeginItem"/> and sends it in <c>response.output_item.done</c>.</summary>
    private void ItemDone(int start, int outputIndex)
    {
        _itemJson.Flush();
        var json = Event("response.output_item.done"u8);
        json.WriteNumber("output_index"u8, outputIndex);
        json.WritePropertyName("item"u8);
        json.WriteRawValue(_done.Span[start..], skipInputValidation: true);
        Close(json);
    }

    private void WriteResponse(Utf8JsonWriter json, ReadOnlySpan<byte> status, ApiError? error, string? incompleteReason)
    {
        json.WriteStartObject("response"u8);
        json.WriteString("id"u8, Options.ResponseId);
        json.WriteString("object"u8, "response"u8);
        json.WriteNumber("created_at"u8, Options.CreatedAt);
        json.WriteString("status"u8, status);
        json.WriteString("model"u8, Options.ClientModel);
        json.WritePropertyName("output"u8);
        if (_done.IsEmpty)
        {
            json.WriteRawValue("[]"u8, skipInputValidation: true);
        }
        else
        {
            // The kept items already open with '[': close the array for this event only, with no copy.
            var length = _done.Length;
            _done.Append((byte)']');
            json.WriteRawValue(_done.Span, skipInputValidation: true);
            _done.Truncate(length);
        }
        if (_usage is { } usage && (status.SequenceEqual("completed"u8) || status.SequenceEqual("incomplete"u8) || status.SequenceEqual("failed"u8)))
        {
            WriteUsage(json, usage);
        }
        else
        {
            json.WriteNull("usage"u8);
        }

        if (error is null)
        {
            json.WriteNull("error"u8);
        }
        else
        {
            json.WriteStartObject("error"u8);
            json.WriteString("code"u8, error.Code ?? "server_error");
            json.WriteString("message"u8, error.Message);
            json.WriteEndObject();
        }

        if (incompleteReason is null)
        {
            json.WriteNull("incomplete_details"u8);
        }
        else
        {
            json.WriteStartObject("incomplete_details"u8);
            json.WriteString("reason"u8, incompleteReason);
            json.WriteEndObject();
        }

        json.WriteEndObject();
    }

    /// <summary>Responses usage from the pivot table (<see cref="ReplyUsage"/>).</summary>
    public static void WriteUsage(Utf8JsonWriter json, ReplyUsage usage)
    {
        json.WriteStartObject("usage"u8);
        json.WriteNumber("input_tokens"u8, usage.Input);
        json.WriteStartObject("input_tokens_details"u8);
        json.WriteNumber("cached_tokens"u8, usage.CacheRead);
        json.WriteEndObject();
        json.WriteNumber("output_tokens"u8, usage.Output);
        json.WriteStartObject("output_tokens_details"u8);
        json.WriteNumber("reasoning_tokens"u8, usage.Reasoning);
        json.WriteEndObject();
        json.WriteNumber("total_tokens"u8, usage.Total);
        json.WriteEndObject();
    }

    private Utf8JsonWriter Event(ReadOnlySpan<byte> type)
    {
        var json = BeginEvent(type);
        json.WriteStartObject();
        json.WriteString("type"u8, type);
        json.WriteNumber("sequence_number"u8, _sequence++);
        return json;
    }

    private void Close(Utf8JsonWriter json)
    {
        json.WriteEndObject();
        EndEvent();
    }

    private static void ItemRef(Utf8JsonWriter json, string itemId, int outputIndex)
    {
        json.WriteString("item_id"u8, itemId);
        json.WriteNumber("output_index"u8, outputIndex);
    }

    private string NewId(string prefix) => prefix + _idTail + "_" + (_nextItem++).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private ToolState? Find(int key)
    {
        foreach (var tool in _tools)
        {
            if (tool.Key == key)
            {
                return tool;
            }
        }

        return null;
    }

    private sealed class ToolState(int key, ToolOrigin origin, string callId, int outputIndex) : IDisposable
    {
        public int Key { get; } = key;

        public ToolOrigin Origin { get; } = origin;

        public string CallId { get; } = callId;

        public int OutputIndex { get; } = outputIndex;

        public required string ItemId { get; init; }

        public CustomInputExtractor? Extractor { get; init; }

        public ByteBuffer Arguments { get; } = new();

        public bool Open { get; set; } = true;

        public void Dispose()
        {
            Arguments.Dispose();
            Extractor?.Dispose();
        }
    }
}
