namespace TokenPool.Gateway;

/// <summary>
/// The longest client-supplied strings TokenPool stores, logs or echoes on the API path, in characters. A request
/// with a longer one is refused with a 400 that names the field and its bound, so no request can grow the database,
/// the log or an error message by more than these.
/// </summary>
internal static class ClientStringLimits
{
    /// <summary><c>model</c>: stored in every usage record, echoed in "model not found".</summary>
    public const int Model = 200;

    /// <summary><c>prompt_cache_key</c>: kept in memory to keep a session on one upstream key.</summary>
    public const int PromptCacheKey = 512;

    /// <summary><c>previous_response_id</c>: kept in memory with the session and the response's size.</summary>
    public const int ResponseId = 256;

    /// <summary>Session headers (<c>session-id</c>, <c>x-session-affinity</c>, <c>x-session-id</c>, <c>x-codex-turn-state</c>).</summary>
    public const int SessionHeader = 256;

    /// <summary>Request id headers (<c>x-client-request-id</c>, <c>x-request-id</c>).</summary>
    public const int RequestIdHeader = 256;

    /// <summary><c>User-Agent</c>: read to word errors for the client that sent them.</summary>
    public const int UserAgent = 512;

    /// <summary>The headers above, with their bounds, in the order they are checked.</summary>
    public static readonly IReadOnlyList<(string Header, int Limit)> Headers =
    [
        ("session-id", SessionHeader),
        ("x-session-affinity", SessionHeader),
        ("x-session-id", SessionHeader),
        ("x-codex-turn-state", SessionHeader),
        ("x-client-request-id", RequestIdHeader),
        ("x-request-id", RequestIdHeader),
        ("User-Agent", UserAgent),
    ];

    /// <summary>The first bounded header that is too long (or sent more than once), with its bound; null when all fit.</summary>
    public static (string Header, int Limit)? FirstTooLong(IHeaderDictionary headers)
    {
        foreach (var (header, limit) in Headers)
        {
            if (headers.TryGetValue(header, out var values) && (values.Count > 1 || (values.Count == 1 && values[0]!.Length > limit)))
            {
                return (header, limit);
            }
        }

        return null;
    }
}
