using TokenPool.Gateway.Dialects;
using TokenPool.Gateway.Streaming;
using TokenPool.Gateway.Translation;
using TokenPool.Upstreams;

namespace TokenPool.Gateway.Relay;

/// <summary>What the relay is given: the admitted request, the client's response, and the request's stop signal.</summary>
internal sealed record RelayRequest(Admission Admission, ClientResponse Client, RequestStop? Stop)
{
    public Dialect ClientDialect => Admission.Dialect;

    public string RequestId => Client.RequestId;

    public string Model => Admission.Model;
}

/// <summary>
/// One target as one attempt uses it: the upstream key, the API the request goes upstream in, and the bridge that
/// carries the client's API to it (none when the channel serves the client's API and bytes pass through).
/// </summary>
internal sealed record AttemptRoute(UpstreamTarget Target, Dialect Upstream, IBridge? Bridge)
{
    public bool Bridged => Bridge is not null;
}

/// <summary>What the failover loop does after an attempt.</summary>
internal enum AttemptKind
{
    /// <summary>The client got its answer (or an ending), or went away; nothing more to do.</summary>
    Finished,

    /// <summary>This target failed in a way another target may not: try the next one.</summary>
    Retry,

    /// <summary>The upstream refused encrypted reasoning it cannot read: resend without those items.</summary>
    RetryWithoutReasoning,

    /// <summary>Another target would give the same answer: give this error to the client.</summary>
    Stop,
}

/// <summary>
/// How one attempt went: what to do next, and, when it finished, how the request ended and what billing needs
/// (the upstream's own meter of the stream, or the usage resolved from a whole answer).
/// </summary>
internal sealed record AttemptResult(AttemptKind Kind, ApiError? Error = null, TimeSpan? RetryAfter = null)
{
    public static readonly AttemptResult RetryWithoutReasoning = new(AttemptKind.RetryWithoutReasoning);

    public RequestOutcome Outcome { get; init; } = RequestOutcome.Failed;

    /// <summary>An error code the usage record keeps (never free text).</summary>
    public string? ErrorCode { get; init; }

    /// <summary>The upstream was given the whole request (and so may bill it), even if the client left before any answer.</summary>
    public bool Accepted { get; init; }

    /// <summary>The upstream's stream, read with its own API's meter.</summary>
    public SseMeter? Meter { get; init; }

    /// <summary>The usage of a whole answer, resolved before its cost went into a response header.</summary>
    public ResolvedUsage? Usage { get; init; }

    /// <summary>The upstream's id for the answer (a Responses answer's <c>resp_…</c>), for a later <c>previous_response_id</c>.</summary>
    public string? ResponseId { get; init; }

    public static AttemptResult Finished(RequestOutcome outcome) => new(AttemptKind.Finished) { Outcome = outcome };

    public static AttemptResult Retry(ApiError error, TimeSpan? retryAfter = null) => new(AttemptKind.Retry, error, retryAfter);

    public static AttemptResult Refuse(ApiError error) => new(AttemptKind.Stop, error);
}

/// <summary>How the relay ended: everything settlement needs from it.</summary>
internal sealed record RelayResult
{
    public required RequestOutcome Outcome { get; init; }

    public string? ErrorCode { get; init; }

    /// <summary>The status the client got.</summary>
    public required int Status { get; init; }

    /// <summary>The last target tried.</summary>
    public UpstreamTarget? Target { get; init; }

    /// <summary>Every attempt, <c>channel:key:result</c>, space-separated.</summary>
    public string? Attempts { get; init; }

    public IReadOnlyList<string> Notes { get; init; } = [];

    public bool Accepted { get; init; }

    public SseMeter? Meter { get; init; }

    public ResolvedUsage? Usage { get; init; }

    public long? FirstByteTimestamp { get; init; }
}
