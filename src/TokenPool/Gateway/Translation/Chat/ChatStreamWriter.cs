using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Chat;

/// <summary>
/// Writes an answer as a Chat Completions stream (protocols §3): <c>data:</c> chunks with one id, <c>created</c> and
/// model; the first delta carries <c>role:"assistant"</c>; reasoning as <c>reasoning_content</c> deltas (what
/// OpenCode's OpenAI-compatible provider reads); tool calls numbered 0, 1, … in the order they start, the first
/// delta of each with its id, type and name and later ones with argument fragments only; a last choice chunk with
/// <c>finish_reason</c>; the usage chunk (<c>choices:[]</c>) only when the client asked
/// (<c>stream_options.include_usage</c>); then <c>data: [DONE]</c>. A failure is <c>data: {"error":…}</c>, as OpenAI sends it.
/// </summary>
internal sealed class ChatStreamWriter(BridgeOptions options) : ClientStreamWriter(options)
{
    private readonly List<int> _keys = [];
    private bool _started;
    private ReplyUsage? _usage;
    private FinishReason _finish;

    public override bool HasFinish => _finish != FinishReason.None;

    public override void Reasoning(ReadOnlySpan<byte> text)
    {
        if (Ended || text.IsEmpty)
        {
            return;
        }

        var json = Chunk();
        WriteEscaped(json, "reasoning_content"u8, text);
        EndChunk(json, null);
    }

    public override void ReasoningOrigin(ReasoningOrigin origin, ReadOnlySpan<byte> blob)
    {
    }

    public override void ReasoningEnd()
    {
    }

    public override void Text(ReadOnlySpan<byte> text)
    {
        if (Ended || text.IsEmpty)
        {
            return;
        }

        var json = Chunk();
        WriteEscaped(json, "content"u8, text);
        EndChunk(json, null);
    }

    public override void ToolCall(int key, string callId, string name)
    {
        if (Ended)
        {
            return;
        }

        _keys.Add(key);
        var json = Chunk();
        json.WriteStartArray("tool_calls"u8);
        json.WriteStartObject();
        json.WriteNumber("index"u8, _keys.Count - 1);
        json.WriteString("id"u8, callId);
        json.WriteString("type"u8, "function"u8);
        json.WriteStartObject("function"u8);
        json.WriteString("name"u8, Context.Resolve(name).Name);
        json.WriteString("arguments"u8, ""u8);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndArray();
        EndChunk(json, null);
    }

    public override void ToolArguments(int key, ReadOnlySpan<byte> fragment)
    {
        var index = _keys.IndexOf(key);
        if (Ended || fragment.IsEmpty || index < 0)
        {
            return;
        }

        var json = Chunk();
        json.WriteStartArray("tool_calls"u8);
        json.WriteStartObject();
        json.WriteNumber("index"u8, index);
        json.WriteStartObject("function"u8);
        WriteEscaped(json, "arguments"u8, fragment);
        json.WriteEndObject();
        json.WriteEndObject();
        json.WriteEndArray();
        EndChunk(json, null);
    }

    public override void ToolCallEnd(int key)
    {
    }

    public override void Usage(in ReplyUsage usage) => _usage = Context.OwnUsage(usage);

    public override void Finish(FinishReason reason, string? stopSequence) => _finish = reason;

    public override void Failed(ApiError error)
    {
        if (Ended)
        {
            return;
        }

        var json = BeginEvent(default);
        error.WriteEnvelope(json);
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
            Failed(new ApiError(502, "server_error", "server_error", "The upstream stopped generating this response before it was complete. Please try again."));
            return;
        }

        var json = Chunk();
        EndChunk(json, FinishText(_finish, _keys.Count > 0));
        if (Options.ClientWantsUsage)
        {
            json = BeginEvent(default);
            json.WriteStartObject();
            WriteHead(json);
            json.WriteStartArray("choices"u8);
            json.WriteEndArray();
            if (_usage is { } usage)
            {
                WriteUsage(json, usage);
            }
            else
            {
                json.WriteNull("usage"u8);
            }

            json.WriteEndObject();
            EndEvent();
        }

        WriteRaw("data: [DONE]\n\n"u8);
        Ended = true;
    }

    /// <summary>The Chat <c>finish_reason</c> for a pivot finish reason.</summary>
    public static string FinishText(FinishReason reason, bool calledTools) => reason switch
    {
        FinishReason.Length => "length",
        FinishReason.ContentFilter => "content_filter",
        FinishReason.ToolCalls => "tool_calls",
        _ => calledTools ? "tool_calls" : "stop",
    };

    /// <summary>Chat usage from the pivot table (<see cref="ReplyUsage"/>).</summary>
    public static void WriteUsage(Utf8JsonWriter json, ReplyUsage usage)
    {
        json.WriteStartObject("usage"u8);
        json.WriteNumber("prompt_tokens"u8, usage.Input);
        json.WriteNumber("completion_tokens"u8, usage.Output);
        json.WriteNumber("total_tokens"u8, usage.Total);
        json.WriteStartObject("prompt_tokens_details"u8);
        json.WriteNumber("cached_tokens"u8, usage.CacheRead);
        json.WriteEndObject();
        json.WriteStartObject("completion_tokens_details"u8);
        json.WriteNumber("reasoning_tokens"u8, usage.Reasoning);
        json.WriteEndObject();
        json.WriteEndObject();
    }

    /// <summary>Opens a chunk up to the inside of its delta (with the role on the first one).</summary>
    private Utf8JsonWriter Chunk()
    {
        var json = BeginEvent(default);
        json.WriteStartObject();
        WriteHead(json);
        json.WriteStartArray("choices"u8);
        json.WriteStartObject();
        json.WriteNumber("index"u8, 0);
        json.WriteStartObject("delta"u8);
        if (!_started)
        {
            _started = true;
            json.WriteString("role"u8, "assistant"u8);
        }

        return json;
    }

    private void EndChunk(Utf8JsonWriter json, string? finishReason)
    {
        json.WriteEndObject();
        if (finishReason is null)
        {
            json.WriteNull("finish_reason"u8);
        }
        else
        {
            json.WriteString("finish_reason"u8, finishReason);
        }

        json.WriteEndObject();
        json.WriteEndArray();
        json.WriteEndObject();
        EndEvent();
    }

    private void WriteHead(Utf8JsonWriter json)
    {
        json.WriteString("id"u8, Options.ResponseId);
        json.WriteString("object"u8, "chat.completion.chunk"u8);
        json.WriteNumber("created"u8, Options.CreatedAt);
        json.WriteString("model"u8, Options.ClientModel);
    }
}
