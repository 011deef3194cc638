using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenPool.Simulator;

/// <summary>
/// Writes a <see cref="SimulatedTurn"/> as a Chat Completions server of the chosen flavour does, chunk
/// for chunk (protocols.md §3 for OpenAI, §11.1 for the others):
/// <list type="table">
/// <item><term>OpenAI</term><description>no reasoning shown; tool calls in fragments; the usage chunk (<c>choices: []</c>) only with <c>include_usage</c>.</description></item>
/// <item><term>vLLM</term><description><c>reasoning</c> deltas; fragments with <c>chatcmpl-tool-</c> ids; <c>stop_reason</c> beside <c>finish_reason</c>;
/// usage when <c>stream_options</c> is sent unless <c>include_usage</c> is false, on every chunk with <c>continuous_usage_stats</c>; no cache report.</description></item>
/// <item><term>Ollama</term><description><c>reasoning</c>; the whole tool call in one chunk; <c>role</c> in every delta; <c>fp_ollama</c>;
/// usage with <c>include_usage</c> only, without details.</description></item>
/// <item><term>DeepSeek</term><description><c>reasoning_content</c>; usage with <c>prompt_cache_hit_tokens</c>/<c>prompt_cache_miss_tokens</c>.</description></item>
/// <item><term>SGLang</term><description><c>reasoning_content</c>; <c>matched_stop</c>; top-level <c>usage.reasoning_tokens</c>; no cache report.</description></item>
/// </list>
/// </summary>
internal sealed class ChatWire(SimulatedTurn turn, SimulatorFaults faults, SimulatorFlavor flavor, Conversation conversation, string id, long createdAt)
{
    private long _streamedTokens;

    private string Finish => faults.Finish ?? (turn.ToolCall is not null ? "tool_calls" : turn.Truncated ? "length" : "stop");

    /// <summary>The reasoning field of a delta or message, or null for flavours that do not show reasoning.</summary>
    private string? ReasoningField => flavor switch
    {
        SimulatorFlavor.Vllm or SimulatorFlavor.Ollama => "reasoning",
        SimulatorFlavor.DeepSeek or SimulatorFlavor.SgLang => "reasoning_content",
        _ => null,
    };

    /// <summary>Whether the stream ends with a usage chunk (before <c>[DONE]</c>).</summary>
    public bool SendsUsageChunk
    {
        get
        {
            if (faults.NoUsage)
            {
                return false;
            }

            var options = conversation.StreamOptions;
            var include = options?["include_usage"] is JsonValue value && value.TryGetValue<bool>(out var flag) ? flag : (bool?)null;
            return flavor == SimulatorFlavor.Vllm ? options is not null && include != false : include == true;
        }
    }

    private bool ContinuousUsage => flavor == SimulatorFlavor.Vllm && !faults.NoUsage
        && conversation.StreamOptions?["continuous_usage_stats"] is JsonValue value && value.TryGetValue<bool>(out var flag) && flag;

    /// <summary>The chunks, ending with <c>data: [DONE]</c>.</summary>
    public List<StreamEvent> Chunks()
    {
        var chunks = new List<StreamEvent>();
        var first = true;
        if (flavor != SimulatorFlavor.Ollama)
        {
            chunks.Add(Chunk(w =>
            {
                w.WriteString("role", "assistant");
                w.WriteString("content", "");
            }, null, StreamStage.Created, 0));
            first = false;
        }

        if (turn.ReasoningText is { } reasoning && ReasoningField is { } field)
        {
            foreach (var piece in Wire.Split(reasoning, 3))
            {
                chunks.Add(Chunk(w => Delta(w, field, piece), null, first ? StreamStage.Created : StreamStage.Reasoning, SimulatedTurn.Tokens(piece)));
                first = false;
            }
        }

        if (turn.Text is { } text)
        {
            foreach (var piece in Wire.Split(text, faults.Deltas ?? Wire.DefaultDeltas(text)))
            {
                chunks.Add(Chunk(w => Delta(w, "content", piece), null, first ? StreamStage.Created : StreamStage.Text, SimulatedTurn.Tokens(piece)));
                first = false;
            }
        }

        if (flavor == SimulatorFlavor.Ollama && turn.ToolCalls.Count > 0)
        {
            // Ollama sends every call whole, together, in one chunk.
            chunks.Add(Chunk(w => ToolCallsDelta(w, turn.ToolCalls), null, StreamStage.Tool, turn.ToolCalls.Sum(c => SimulatedTurn.Tokens(c.Arguments))));
        }
        else
        {
            for (var index = 0; index < turn.ToolCalls.Count; index++)
            {
                var call = turn.ToolCalls[index];
                var callIndex = index;
                chunks.Add(Chunk(w => ToolCallDelta(w, callIndex, call.CallId, call.Name, ""), null, StreamStage.Tool, 0));
                foreach (var piece in Wire.Split(call.Arguments, flavor is SimulatorFlavor.OpenAi or SimulatorFlavor.AllApis ? 2 : 3))
                {
                    chunks.Add(Chunk(w => ToolCallDelta(w, callIndex, null, null, piece), null, StreamStage.Tool, SimulatedTurn.Tokens(piece)));
                }
            }
        }

        chunks.Add(Chunk(flavor == SimulatorFlavor.Ollama ? w => Delta(w, "content", "") : null, Finish, StreamStage.Finish, 0));
        if (SendsUsageChunk)
        {
            chunks.Add(new StreamEvent(null, Wire.Json(w =>
            {
                w.WriteStartObject();
                Header(w, "chat.completion.chunk");
                w.WriteStartArray("choices");
                w.WriteEndArray();
                WriteUsage(w, turn.Usage.Output);
                w.WriteEndObject();
            }), StreamStage.Usage));
        }

        chunks.Add(new StreamEvent(null, "[DONE]"u8.ToArray(), StreamStage.End));
        return chunks;
    }

    /// <summary>The error a server of this flavour sends inside a stream, then (vLLM, SGLang) <c>[DONE]</c>.</summary>
    public List<StreamEvent> StreamError(string? code, string message)
    {
        var events = new List<StreamEvent> { new(null, SimulatorErrors.ChatStreamError(flavor, code, message), StreamStage.End) };
        if (flavor is SimulatorFlavor.Vllm or SimulatorFlavor.SgLang)
        {
            events.Add(new StreamEvent(null, "[DONE]"u8.ToArray(), StreamStage.End));
        }

        return events;
    }

    /// <summary>The whole <c>chat.completion</c> object for a non-streamed request.</summary>
    public byte[] CompletionObject() => Wire.Json(w =>
    {
        w.WriteStartObject();
        Header(w, "chat.completion");
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        if (turn.Text is null)
        {
            w.WriteNull("content");
        }
        else
        {
            w.WriteString("content", turn.Text);
        }

        if (turn.ReasoningText is { } reasoning && ReasoningField is { } field)
        {
            w.WriteString(field, reasoning);
        }

        if (turn.ToolCalls.Count > 0)
        {
            w.WriteStartArray("tool_calls");
            foreach (var call in turn.ToolCalls)
            {
                w.WriteStartObject();
                w.WriteString("id", call.CallId);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", call.Arguments);
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
        if (flavor != SimulatorFlavor.Ollama)
        {
            w.WriteNull("logprobs");
        }

        w.WriteString("finish_reason", Finish);
        ChoiceExtras(w, Finish);
        w.WriteEndObject();
        w.WriteEndArray();
        if (!faults.NoUsage)
        {
            WriteUsage(w, turn.Usage.Output);
        }

        w.WriteEndObject();
    });

    /// <summary>A tool-call id in the flavour's own format.</summary>
    public static string NewCallId(SimulatorFlavor flavor) => flavor switch
    {
        SimulatorFlavor.Vllm => "chatcmpl-tool-" + Guid.NewGuid().ToString("N"),
        SimulatorFlavor.Ollama => "call_" + Wire.Id(8, lowercase: true),
        SimulatorFlavor.DeepSeek => "call_00_" + Wire.Id(24),
        SimulatorFlavor.SgLang => "call_" + Guid.NewGuid().ToString("N")[..24],
        _ => "call_" + Wire.Id(24),
    };

    /// <summary>A completion id in the flavour's own format.</summary>
    public static string NewId(SimulatorFlavor flavor, string responseId) => flavor switch
    {
        SimulatorFlavor.Ollama => "chatcmpl-" + Random.Shared.Next(0, 999).ToString(CultureInfo.InvariantCulture),
        SimulatorFlavor.DeepSeek => Guid.NewGuid().ToString(),
        SimulatorFlavor.Vllm => "chatcmpl-" + Guid.NewGuid().ToString("N"),
        SimulatorFlavor.SgLang => Guid.NewGuid().ToString("N"),
        _ => "chatcmpl-" + responseId[5..],
    };

    private StreamEvent Chunk(Action<Utf8JsonWriter>? delta, string? finish, StreamStage stage, long tokens)
    {
        // vLLM's continuous usage counts what was generated so far; the finishing chunk carries the whole answer.
        _streamedTokens += tokens;
        var soFar = finish is null ? Math.Min(_streamedTokens, turn.Usage.Output) : turn.Usage.Output;
        return new StreamEvent(null, Wire.Json(w =>
        {
            w.WriteStartObject();
            Header(w, "chat.completion.chunk");
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            w.WriteStartObject("delta");
            if (flavor == SimulatorFlavor.Ollama && delta is not null)
            {
                w.WriteString("role", "assistant");
            }

            delta?.Invoke(w);
            w.WriteEndObject();
            if (flavor != SimulatorFlavor.Ollama)
            {
                w.WriteNull("logprobs");
            }

            if (finish is null)
            {
                w.WriteNull("finish_reason");
            }
            else
            {
                w.WriteString("finish_reason", finish);
            }

            ChoiceExtras(w, finish);
            w.WriteEndObject();
            w.WriteEndArray();
            if (ContinuousUsage)
            {
                WriteUsage(w, soFar);
            }

            w.WriteEndObject();
        }), stage);
    }

    private void Header(Utf8JsonWriter w, string type)
    {
        w.WriteString("id", id);
        w.WriteString("object", type);
        w.WriteNumber("created", createdAt);
        w.WriteString("model", turn.Model);
        switch (flavor)
        {
            case SimulatorFlavor.Ollama:
                w.WriteString("system_fingerprint", "fp_ollama");
                break;
            case SimulatorFlavor.DeepSeek:
                w.WriteString("system_fingerprint", "fp_tokenpool_sim_deepseek");
                break;
            case SimulatorFlavor.OpenAi or SimulatorFlavor.AllApis:
                w.WriteNull("system_fingerprint");
                break;
        }
    }

    private void ChoiceExtras(Utf8JsonWriter w, string? finish)
    {
        // vLLM's stop_reason and SGLang's matched_stop name the caller's stop string the answer ended at.
        var matched = finish == "stop" ? turn.StopSequence : null;
        if (flavor == SimulatorFlavor.Vllm)
        {
            if (matched is null)
            {
                w.WriteNull("stop_reason");
            }
            else
            {
                w.WriteString("stop_reason", matched);
            }
        }
        else if (flavor == SimulatorFlavor.SgLang && finish is not null)
        {
            if (matched is null)
            {
                w.WriteNull("matched_stop");
            }
            else
            {
                w.WriteString("matched_stop", matched);
            }
        }
    }

    private static void Delta(Utf8JsonWriter w, string field, string text) => w.WriteString(field, text);

    private static void ToolCallsDelta(Utf8JsonWriter w, IReadOnlyList<SimulatedToolCall> calls)
    {
        w.WriteStartArray("tool_calls");
        for (var index = 0; index < calls.Count; index++)
        {
            w.WriteStartObject();
            w.WriteString("id", calls[index].CallId);
            w.WriteNumber("index", index);
            w.WriteString("type", "function");
            w.WriteStartObject("function");
            w.WriteString("name", calls[index].Name);
            w.WriteString("arguments", calls[index].Arguments);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void ToolCallDelta(Utf8JsonWriter w, int index, string? callId, string? name, string arguments)
    {
        w.WriteStartArray("tool_calls");
        w.WriteStartObject();
        w.WriteNumber("index", index);
        if (callId is not null)
        {
            w.WriteString("id", callId);
            w.WriteString("type", "function");
        }

        w.WriteStartObject("function");
        if (name is not null)
        {
            w.WriteString("name", name);
        }

        w.WriteString("arguments", arguments);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndArray();
    }

    private void WriteUsage(Utf8JsonWriter w, long completion)
    {
        var usage = turn.Usage;
        var bad = faults.BadUsage ? -1 : 1;
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", bad * usage.Input);
        w.WriteNumber("completion_tokens", bad * completion);
        w.WriteNumber("total_tokens", bad * (usage.Input + completion));
        switch (flavor)
        {
            case SimulatorFlavor.Ollama:
                break;
            case SimulatorFlavor.Vllm:
                w.WriteNull("prompt_tokens_details");
                break;
            case SimulatorFlavor.SgLang:
                w.WriteNull("prompt_tokens_details");
                if (usage.Reasoning > 0)
                {
                    w.WriteNumber("reasoning_tokens", usage.Reasoning);
                }

                break;
            case SimulatorFlavor.DeepSeek:
                w.WriteStartObject("prompt_tokens_details");
                w.WriteNumber("cached_tokens", usage.Cached);
                w.WriteEndObject();
                w.WriteNumber("prompt_cache_hit_tokens", usage.Cached);
                w.WriteNumber("prompt_cache_miss_tokens", usage.Input - usage.Cached);
                w.WriteStartObject("completion_tokens_details");
                w.WriteNumber("reasoning_tokens", usage.Reasoning);
                w.WriteEndObject();
                break;
            default:
                w.WriteStartObject("prompt_tokens_details");
                w.WriteNumber("cached_tokens", usage.Cached);
                w.WriteEndObject();
                w.WriteStartObject("completion_tokens_details");
                w.WriteNumber("reasoning_tokens", usage.Reasoning);
                w.WriteEndObject();
                break;
        }

        w.WriteEndObject();
    }
}
