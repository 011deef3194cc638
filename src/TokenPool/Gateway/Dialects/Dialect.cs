using System.Net.Http.Headers;
using TokenPool.Billing;
using TokenPool.Gateway.Streaming;
using TokenPool.Gateway.Translation;
using TokenPool.Upstreams;

namespace TokenPool.Gateway.Dialects;

/// <summary>
/// Everything that differs between wire APIs, for one API: where it is served, what TokenPool reads from and
/// writes into its request bodies, how its stream is metered and ended, how its errors are enveloped, and how an
/// upstream that serves it is authenticated. The relay and the handler ask the dialect and never branch on the
/// API themselves, so a new API is one new dialect (plus its bridges), not edits across the pipeline.
/// </summary>
internal abstract class Dialect
{
    public abstract ApiKind Api { get; }

    /// <summary>The path after <c>/v1</c> (or the channel's base URL), e.g. <c>responses</c>.</summary>
    public abstract string Path { get; }

    /// <summary>The endpoint a usage record names, e.g. <c>chat.completions</c>.</summary>
    public abstract string Endpoint { get; }

    /// <summary>An id in this API's shape (<c>resp_…</c>, <c>chatcmpl-…</c>) for an answer TokenPool makes, from the request id.</summary>
    public abstract string AnswerId(string requestId);

    // Requests.

    /// <summary>
    /// The one output-limit field TokenPool writes into a request of this API for a channel that serves
    /// <paramref name="served"/>; every other output-limit field the client sent is taken out.
    /// </summary>
    public abstract string OutputLimitField(WireSet served);

    /// <summary>Whether a streamed request must ask the upstream for usage (Chat Completions sends none unless asked).</summary>
    public virtual bool StreamUsageMustBeAsked => false;

    /// <summary>Whether the request carries reasoning items that only the upstream account that made them can read.</summary>
    public virtual bool HasForeignableReasoning(ReadOnlySpan<byte> body) => false;

    /// <summary>Whether the upstream keeps the answer so that a later request can name it (<c>previous_response_id</c>).</summary>
    public virtual bool KeepsResponse(RequestFacts facts) => false;

    /// <summary>A small request for a health probe or the console's channel test.</summary>
    public abstract byte[] ProbeBody(string model, int maxOutputTokens);

    // Upstreams.

    /// <summary>Sets the upstream's credentials on a request: a bearer token unless the API has its own header.</summary>
    public virtual void Authenticate(HttpRequestHeaders headers, UpstreamTarget target) =>
        headers.TryAddWithoutValidation("Authorization", target.Authorization);

    /// <summary>Reads an upstream's error body of this API: its type, code, message and param, as sent.</summary>
    public abstract UpstreamErrorBody ReadError(ReadOnlySpan<byte> body);

    /// <summary>Reads what billing needs from a whole (non-streamed) answer: usage, the response id.</summary>
    public abstract AnswerFacts ReadAnswer(ReadOnlySpan<byte> body);

    /// <summary>The names of the string fields of an answer that carry generated text (counted when no usage came).</summary>
    public abstract IReadOnlySet<string> AnswerTextFields { get; }

    // Streams.

    /// <summary>A meter for a stream of this API.</summary>
    public abstract SseMeter StartMeter(string? channelSecret, bool dropUsageOnlyChunks);

    /// <summary>
    /// The event sent while a streamed request waits for the upstream, or empty when the API has none (the client's
    /// own idle timer is then what counts). It commits the response, so an error after it goes in the stream.
    /// </summary>
    public virtual ReadOnlyMemory<byte> KeepAlive => default;

    /// <summary>
    /// The event that ends a stream of this API with an error, so the client knows the answer is incomplete and does
    /// not wait or loop. <paramref name="meter"/> is this API's meter of the stream so far, when there is one.
    /// </summary>
    public abstract byte[] TerminalError(ApiError error, SseMeter? meter, string model, string requestId);

    // Errors.

    /// <summary>Writes an error in this API's envelope, with its status and headers.</summary>
    public virtual Task WriteErrorAsync(HttpContext context, ApiError error) => error.WriteAsync(context);
}

/// <summary>An upstream's error body as it sent it: never show it to anyone before <see cref="Relay.SecretScrubber"/>.</summary>
internal readonly record struct UpstreamErrorBody(string? Type, string? Code, string? Message, string? Param)
{
    /// <summary>Whether the body was an error in the API's own JSON shape.</summary>
    public bool IsJson => Type is not null || Code is not null || Message is not null;
}

/// <summary>What a whole answer says about its cost: the usage it reports (null when none) and its id.</summary>
internal readonly record struct AnswerFacts(TokenUsage? Usage, string? ResponseId);
