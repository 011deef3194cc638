using System.Buffers;

namespace TokenPool.Gateway.Translation;

/// <summary>The wire APIs TokenPool speaks, to clients and to upstream channels.</summary>
internal enum ApiKind
{
    /// <summary>OpenAI's Responses API (<c>POST /v1/responses</c>): Codex, OpenCode's <c>openai</c> provider.</summary>
    Responses,

    /// <summary>OpenAI's Chat Completions API (<c>POST /v1/chat/completions</c>): most OpenAI-compatible servers and SDK scripts.</summary>
    ChatCompletions,

    /// <summary>Anthropic's Messages API (<c>POST /v1/messages</c>): Claude Code.</summary>
    Messages,
}

/// <summary>
/// How requests of one client API are carried over a channel that speaks another. A bridge is the only
/// place that knows both APIs at once; everything one API alone decides (paths, metering, envelopes) is
/// its dialect's. When client and channel speak the same API there is no bridge: bytes pass through.
/// </summary>
internal interface IBridge
{
    ApiKind Client { get; }

    ApiKind Upstream { get; }

    /// <summary>
    /// The client's request body rewritten for the upstream: the upstream model name, exactly one output
    /// limit (<see cref="BridgeOptions.OutputLimit"/>), a usage request on streams, and everything the
    /// upstream API can carry. A request that cannot be carried gets a client error instead.
    /// </summary>
    BridgeRequest TranslateRequest(ReadOnlySpan<byte> clientBody, BridgeOptions options);

    /// <summary>Starts translating one streamed answer, event by event, from the upstream's API to the client's.</summary>
    IStreamTranslator StartStream(BridgeOptions options);

    /// <summary>A whole (non-streamed) upstream answer in the client's API.</summary>
    byte[] TranslateResponse(ReadOnlySpan<byte> upstreamBody, BridgeOptions options);
}

/// <summary>What a bridge needs beyond the client's body.</summary>
internal sealed record BridgeOptions
{
    /// <summary>The model name the client asked for; it is the name the client sees in the answer.</summary>
    public required string ClientModel { get; init; }

    /// <summary>The model name written upstream (after the channel's aliases).</summary>
    public required string UpstreamModel { get; init; }

    public required bool Stream { get; init; }

    /// <summary>The one output-token limit TokenPool writes upstream, the one it holds money for; null writes none.</summary>
    public long? OutputLimit { get; init; }

    /// <summary>
    /// The field the upstream's dialect writes <see cref="OutputLimit"/> in for this channel (for Chat upstreams
    /// <c>max_completion_tokens</c> when the channel also serves Responses, else <c>max_tokens</c>); null: the API's usual one.
    /// </summary>
    public string? OutputLimitField { get; init; }

    /// <summary>
    /// The upstream model refuses a reasoning effort (Ollama answers 400 "does not support thinking" for a model without
    /// it; OpenAI's non-reasoning models refuse <c>reasoning</c>): the bridge then writes none, whatever the client asked.
    /// </summary>
    public bool OmitReasoningEffort { get; init; }

    /// <summary>A Chat Completions client asked for the usage chunk (<c>stream_options.include_usage</c>).</summary>
    public bool ClientWantsUsage { get; init; }

    /// <summary>The id the translated answer carries (<c>resp_…</c>, <c>chatcmpl-…</c> or <c>msg_…</c>), made by the gateway.</summary>
    public required string ResponseId { get; init; }

    /// <summary>The time the translated answer says it was created (Unix seconds).</summary>
    public long CreatedAt { get; init; }

    /// <summary>
    /// What <see cref="IBridge.TranslateRequest"/> learned about the request that the answer's translation needs
    /// (<see cref="BridgeRequest.Context"/>): pass it on to <see cref="IBridge.StartStream"/> and
    /// <see cref="IBridge.TranslateResponse"/>. Without it custom tools, tool search and namespaced tools come back
    /// to a Responses client as plain function calls.
    /// </summary>
    public BridgeContext? Context { get; init; }
}

/// <summary>A translated request body, or the client error that says why it cannot be carried.</summary>
internal readonly record struct BridgeRequest(byte[]? Body, ApiError? Error)
{
    /// <summary>What the answer's translation needs to know about this request; hand it back in <see cref="BridgeOptions.Context"/>.</summary>
    public BridgeContext? Context { get; init; }

    /// <summary>What the client sent that the upstream API cannot carry (hosted tools, unknown items), for the log.</summary>
    public IReadOnlyList<string> Dropped { get; init; } = [];

    public static BridgeRequest Refused(ApiError error) => new(null, error);
}

/// <summary>
/// Translates one upstream stream into the client's API as its bytes arrive, however they are cut into
/// chunks. Events go out as soon as they can be written: nothing waits for the end of the answer.
/// </summary>
internal interface IStreamTranslator : IDisposable
{
    /// <summary>Feeds upstream bytes exactly as they arrived; appends whatever client bytes they complete.</summary>
    void Write(ReadOnlySpan<byte> upstream, IBufferWriter<byte> client);

    /// <summary>
    /// The upstream stream is over. Appends the client's terminal events: the upstream's own end translated,
    /// or, when the upstream ended without one or <paramref name="failure"/> is given, the client API's
    /// terminal error (every open item or block closed first).
    /// </summary>
    void Complete(IBufferWriter<byte> client, ApiError? failure);

    /// <summary>The client's stream has had its terminal event.</summary>
    bool Ended { get; }
}
