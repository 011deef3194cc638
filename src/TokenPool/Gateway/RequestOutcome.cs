namespace TokenPool.Gateway;

/// <summary>How one API request ended, as its usage record says.</summary>
internal enum RequestOutcome
{
    /// <summary>The upstream answered with an error, or its stream ended with one.</summary>
    Failed,

    /// <summary>The answer arrived whole.</summary>
    Completed,

    /// <summary>The answer ended early by the upstream's choice (its output limit, a content filter).</summary>
    Incomplete,

    /// <summary>TokenPool refused the request before any upstream saw it (key, model, limits, quota).</summary>
    Rejected,

    /// <summary>The client went away before the answer was complete.</summary>
    ClientClosed,

    /// <summary>Every upstream attempt failed; the client got TokenPool's error.</summary>
    UpstreamError,

    /// <summary>The upstream's stream went silent past its idle limit or the request's total time, and TokenPool ended it.</summary>
    UpstreamIdle,

    /// <summary>The upstream cut its stream before its end.</summary>
    UpstreamCut,

    /// <summary>The request's key was deleted or disabled, or its account disabled, while it was running: it was ended.</summary>
    KeyRevoked,

    /// <summary>The server was stopping and the drain deadline passed while the request was running: it was ended.</summary>
    Drained,

    /// <summary>TokenPool itself failed.</summary>
    InternalError,
}

internal static class RequestOutcomes
{
    /// <summary>The outcome as usage records and the console name it (<c>client_closed</c>).</summary>
    public static string Name(this RequestOutcome outcome) => outcome switch
    {
        RequestOutcome.Failed => "failed",
        RequestOutcome.Completed => "completed",
        RequestOutcome.Incomplete => "incomplete",
        RequestOutcome.Rejected => "rejected",
        RequestOutcome.ClientClosed => "client_closed",
        RequestOutcome.UpstreamError => "upstream_error",
        RequestOutcome.UpstreamIdle => "upstream_idle",
        RequestOutcome.UpstreamCut => "upstream_cut",
        RequestOutcome.KeyRevoked => "key_revoked",
        RequestOutcome.Drained => "drained",
        RequestOutcome.InternalError => "internal_error",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome)),
    };
}
