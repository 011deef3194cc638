using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Messages;

/// <summary>
/// Writes an answer as an Anthropic Messages stream, the way Claude Code needs it (protocols §10.4, §10.5, §11.3):
/// <list type="number">
/// <item><c>message_start</c> (usage comes at the end: the upstreams bridged here report it only then) and a <c>ping</c>;</item>
/// <item>one content block open at a time, each <c>content_block_start</c> → deltas → <c>content_block_stop</c> (Claude
/// Code loses a block's text without its stop): <c>thinking</c> with <c>thinking_delta</c> and, before its stop, a
/// <c>signature_delta</c> carrying TokenPool's seal of what the upstream needs back; <c>text</c> with
/// <c>text_delta</c>; <c>tool_use</c> with <c>input_json_delta</c>. A call that starts while another is streaming
/// waits (its fragments kept) until that one ends;</item>
/// <item>exactly one <c>message_delta</c> (a second makes Claude Code abort), after every block is closed and the usage
/// is known, with the stop reason (<c>end_turn</c>, <c>stop_sequence</c> with the sequence, <c>max_tokens</c>,
/// <c>tool_use</c>, <c>refusal</c>) and the usage by the pivot table; then <c>message_stop</c>;</item>
/// <item>a failure closes the open block and sends <c>event: error</c> with Anthropic's error type, with no
/// <c>message_delta</c> or <c>message_stop</c>.</item>
/// </list>
/// </summary>
internal sealed class MessagesStreamWriter : ClientStreamWriter
{
    private readonly ReasoningSeal? _seal;
    private readonly ByteBuffer _thinking = new();
    private readonly ByteBuffer _blob = new();
    private readonly List<QueuedCall> _queued = [];

    private bool _started;
    private int _nextBlock;
    private BlockKind _open;
    private int _openKey;
    private ReasoningOrigin _origin;
    private bool _calledTools;
    private ReplyUsage? _usage;
    private FinishReason _finish;
    private string? _stopSequence;

    public MessagesStreamWriter(BridgeOptions options, ReasoningSeal? seal)
        : base(options) => _seal = seal;

    private enum BlockKind
    {
        None,
        Thinking,
        Text,
        Tool,
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

        OpenThinking();
        if (text.IsEmpty)
        {
            return;
        }

        var json = Event("content_block_delta"u8);
        json.WriteNumber("index"u8, _nextBlock - 1);
        json.WriteStartObject("delta"u8);
        json.WriteString("type"u8, "thinking_delta"u8);
        WriteEscaped(json, "thinking"u8, text);
        json.WriteEndObject();
        Close(json);
        _thinking.Append(text);
    }

    public override void ReasoningOrigin(ReasoningOrigin origin, ReadOnlySpan<byte> blob)
    {
        if (Ended)
        {
            return;
        }

        OpenThinking();
        _origin = origin;
        _blob.Append(blob);
    }

    public override void ReasoningEnd()
    {
        if (!Ended && _open == BlockKind.Thinking)
        {
            CloseBlock();
        }
    }

    public override void Text(ReadOnlySpan<byte> text)
    {
        if (Ended || text.IsEmpty)
        {
            return;
        }

        EnsureStarted();
        if (_open != BlockKind.Text)
        {
            CloseBlock();
            FlushQueued(keepLastOpen: false);
            var start = Event("content_block_start"u8);
            start.WriteNumber("index"u8, _nextBlock++);
            start.WriteStartObject("content_block"u8);
            start.WriteString("type"u8, "text"u8);
            start.WriteString("text"u8, ""u8);
            start.WriteEndObject();
            Close(start);
            _open = BlockKind.Text;
        }

        var json = Event("content_block_delta"u8);
        json.WriteNumber("index"u8, _nextBlock - 1);
        json.WriteStartObject("delta"u8);
        json.WriteString("type"u8, "text_delta"u8);
        WriteEscaped(json, "text"u8, text);
        json.WriteEndObject();
        Close(json);
    }

    public override void ToolCall(int key, string callId, string name)
    {
        if (Ended)
        {
            return;
        }

        _calledTools = true;
        if (_open == BlockKind.Tool)
        {
            _queued.Add(new QueuedCall(key, callId, name));
            return;
        }

        CloseBlock();
        StartTool(key, callId, name);
    }

    public override void ToolArguments(int key, ReadOnlySpan<byte> fragment)
    {
        if (Ended || fragment.IsEmpty)
        {
            return;
        }

        if (_open == BlockKind.Tool && _openKey == key)
        {
            InputDelta(fragment);
            return;
        }

        foreach (var queued in _queued)
        {
            if (queued.Key == key)
            {
                queued.Arguments.Append(fragment);
                return;
            }
        }
    }

    public override void ToolCallEnd(int key)
    {
        if (!Ended && _open == BlockKind.Tool && _openKey == key)
        {
            CloseBlock();
            FlushQueued(keepLastOpen: true);
        }
    }

    public override void Usage(in ReplyUsage usage) => _usage = Context.OwnUsage(usage);

    public override void Finish(FinishReason reason, string? stopSequence)
    {
        _finish = reason;
        _stopSequence = stopSequence;
    }

    public override void Failed(ApiError error)
    {
        if (Ended)
        {
            return;
        }

        EnsureStarted();
        CloseBlock();
        var json = BeginEvent("error"u8);
        json.WriteStartObject();
        json.WriteString("type"u8, "error"u8);
        json.WriteStartObject("error"u8);
        json.WriteString("type"u8, ErrorType(error));
        json.WriteString("message"u8, error.Message);
        json.WriteEndObject();
        json.WriteEndObject();
        EndEvent();
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
            Failed(new ApiError(529, "server_error", "server_is_overloaded", "The upstream stopped generating this response before it was complete. Please try again."));
            return;
        }

        EnsureStarted();
        CloseBlock();
        FlushQueued(keepLastOpen: false);
        var json = Event("message_delta"u8);
        json.WriteStartObject("delta"u8);
        json.WriteString("stop_reason"u8, StopReason(_finish, _calledTools));
        if (_finish == FinishReason.StopSequence && _stopSequence is not null)
        {
            json.WriteString("stop_sequence"u8, _stopSequence);
        }
        else
        {
            json.WriteNull("stop_sequence"u8);
        }

        json.WriteEndObject();
        WriteUsage(json, _usage ?? default);
        Close(json);
        Close(Event("message_stop"u8));
        Ended = true;
    }

    public override void Dispose()
    {
        foreach (var queued in _queued)
        {
            queued.Arguments.Dispose();
        }

        _thinking.Dispose();
        _blob.Dispose();
        base.Dispose();
    }

    /// <summary>The Messages <c>stop_reason</c> for a pivot finish reason.</summary>
    public static string StopReason(FinishReason reason, bool calledTools) => reason switch
    {
        FinishReason.Length => "max_tokens",
        FinishReason.StopSequence => "stop_sequence",
        FinishReason.ContentFilter => "refusal",
        FinishReason.ToolCalls => "tool_use",
        _ => calledTools ? "tool_use" : "end_turn",
    };

    /// <summary>Anthropic's error type for an error (protocols §10.6).</summary>
    public static string ErrorType(ApiError error) => error.Code switch
    {
        "rate_limit_exceeded" => "rate_limit_error",
        "server_is_overloaded" => "overloaded_error",
        "context_length_exceeded" => "invalid_request_error",
        _ => error.Status switch
        {
            400 or 422 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 or 529 => "overloaded_error",
            _ => "api_error",
        },
    };

    /// <summary>Messages usage from the pivot table (<see cref="ReplyUsage"/>).</summary>
    public static void WriteUsage(Utf8JsonWriter json, ReplyUsage usage)
    {
        json.WriteStartObject("usage"u8);
        json.WriteNumber("input_tokens"u8, usage.Uncached);
        json.WriteNumber("cache_creation_input_tokens"u8, usage.CacheWrite);
        json.WriteNumber("cache_read_input_tokens"u8, usage.CacheRead);
        json.WriteNumber("output_tokens"u8, usage.Output);
        json.WriteEndObject();
    }

    private void EnsureStarted()
    {
        if (_started)
        {
            return;
        }

        _started = true;
        var json = Event("message_start"u8);
        json.WriteStartObject("message"u8);
        json.WriteString("id"u8, Options.ResponseId);
        json.WriteString("type"u8, "message"u8);
        json.WriteString("role"u8, "assistant"u8);
        json.WriteString("model"u8, Options.ClientModel);
        json.WriteStartArray("content"u8);
        json.WriteEndArray();
        json.WriteNull("stop_reason"u8);
        json.WriteNull("stop_sequence"u8);
        WriteUsage(json, default);
        json.WriteEndObject();
        Close(json);
        Close(Event("ping"u8));
    }

    private void OpenThinking()
    {
        EnsureStarted();
        if (_open == BlockKind.Thinking)
        {
            return;
        }

        CloseBlock();
        FlushQueued(keepLastOpen: false);
        _thinking.Clear();
        _blob.Clear();
        _origin = Pivot.ReasoningOrigin.None;
        var start = Event("content_block_start"u8);
        start.WriteNumber("index"u8, _nextBlock++);
        start.WriteStartObject("content_block"u8);
        start.WriteString("type"u8, "thinking"u8);
        start.WriteString("thinking"u8, ""u8);
        start.WriteString("signature"u8, ""u8);
        start.WriteEndObject();
        Close(start);
        _open = BlockKind.Thinking;
    }

    private void StartTool(int key, string callId, string name)
    {
        EnsureStarted();
        var start = Event("content_block_start"u8);
        start.WriteNumber("index"u8, _nextBlock++);
        start.WriteStartObject("content_block"u8);
        start.WriteString("type"u8, "tool_use"u8);
        start.WriteString("id"u8, MessagesRequestWriter.ToolId(callId));
        start.WriteString("name"u8, Context.Resolve(name).Name);
        start.WriteStartObject("input"u8);
        start.WriteEndObject();
        start.WriteEndObject();
        Close(start);
        _open = BlockKind.Tool;
        _openKey = key;
    }

    private void InputDelta(ReadOnlySpan<byte> fragment)
    {
        var json = Event("content_block_delta"u8);
        json.WriteNumber("index"u8, _nextBlock - 1);
        json.WriteStartObject("delta"u8);
        json.WriteString("type"u8, "input_json_delta"u8);
        WriteEscaped(json, "partial_json"u8, fragment);
        json.WriteEndObject();
        Close(json);
    }

    /// <summary>Starts the calls that waited; all are closed unless <paramref name="keepLastOpen"/> leaves the first one open for more fragments.</summary>
    private void FlushQueued(bool keepLastOpen)
    {
        while (_queued.Count > 0)
        {
            var next = _queued[0];
            _queued.RemoveAt(0);
            StartTool(next.Key, next.CallId, next.Name);
            if (!next.Arguments.IsEmpty)
            {
                InputDelta(next.Arguments.Span);
            }

            next.Arguments.Dispose();
            if (keepLastOpen)
            {
                return;
            }

            CloseBlock();
        }
    }

    private void CloseBlock()
    {
        if (_open == BlockKind.None)
        {
            return;
        }

        if (_open == BlockKind.Thinking && _seal is not null && _origin != Pivot.ReasoningOrigin.None && !(_thinking.IsEmpty && _blob.IsEmpty))
        {
            var json = Event("content_block_delta"u8);
            json.WriteNumber("index"u8, _nextBlock - 1);
            json.WriteStartObject("delta"u8);
            json.WriteString("type"u8, "signature_delta"u8);
            json.WriteString("signature"u8, _seal.Seal(_origin, _thinking.Span, _blob.Span));
            json.WriteEndObject();
            Close(json);
        }

        var stop = Event("content_block_stop"u8);
        stop.WriteNumber("index"u8, _nextBlock - 1);
        Close(stop);
        _open = BlockKind.None;
    }

    private Utf8JsonWriter Event(ReadOnlySpan<byte> type)
    {
        var json = BeginEvent(type);
        json.WriteStartObject();
        json.WriteString("type"u8, type);
        return json;
    }

    private void Close(Utf8JsonWriter json)
    {
        json.WriteEndObject();
        EndEvent();
    }

    private sealed class QueuedCall(int key, string callId, string name)
    {
        public int Key { get; } = key;

        public string CallId { get; } = callId;

        public string Name { get; } = name;

        public ByteBuffer Arguments { get; } = new();
    }
}
