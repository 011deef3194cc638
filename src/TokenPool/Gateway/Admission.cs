using TokenPool.Billing;
using TokenPool.Gateway.Dialects;
using TokenPool.Keys;
using TokenPool.Upstreams;

namespace TokenPool.Gateway;

/// <summary>
/// What admission decided for one request, fixed before any upstream is called: whose it is, what it asks for, what
/// may serve it, and what money and limits it holds. The relay and settlement read it; nothing writes it afterwards.
/// </summary>
internal sealed record Admission
{
    public required KeyIdentity Key { get; init; }

    /// <summary>The API the client speaks.</summary>
    public required Dialect Dialect { get; init; }

    public required RequestBody Body { get; init; }

    public required RequestFacts Facts { get; init; }

    public required ModelPrice Price { get; init; }

    public required ModelRoute Route { get; init; }

    public string Model => Facts.Model!;

    /// <summary>The session the request belongs to, if the client named one.</summary>
    public string? Session { get; init; }

    public RequestLimiter.LimitLease? Lease { get; init; }

    public IReadOnlyList<KeyValuePair<string, string>> LimitHeaders { get; init; } = [];

    /// <summary>
    /// The output limit TokenPool writes upstream (in exactly one field, whatever the client sent) and holds money for:
    /// the smallest the client sent, else the model's reserve. The ledger may lower it to what a small balance pays for.
    /// </summary>
    public required long OutputLimit { get; init; }

    /// <summary>The input tokens held for: the body's size, plus what TokenPool knows of a <c>previous_response_id</c>.</summary>
    public required long InputTokensHeld { get; init; }

    /// <summary>The tokens of the conversation a <c>previous_response_id</c> continues, when TokenPool saw that response.</summary>
    public long? PriorTokens { get; init; }

    public required long ReservedMicros { get; init; }
}
