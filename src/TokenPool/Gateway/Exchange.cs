using System.Diagnostics;
using System.Text;
using TokenPool.Billing;
using TokenPool.Gateway.Streaming;
using TokenPool.Keys;
using TokenPool.Upstreams;

namespace TokenPool.Gateway;

/// <summary>Everything about one API request as it moves through admission, the upstream and settlement.</summary>
internal sealed class Exchange(HttpContext context, ClientApiKind api, string requestId, DateTime startedAt) : IDisposable
{
    public HttpContext Context { get; } = context;

    public ClientApiKind Api { get; } = api;

    public string RequestId { get; } = requestId;

    public DateTime StartedAt { get; } = startedAt;

    public long StartTimestamp { get; } = Stopwatch.GetTimestamp();

    public KeyIdentity Key { get; set; } = null!;

    public RequestBody Body { get; set; } = null!;

    public RequestFacts Facts { get; set; } = null!;

    public ModelPrice Price { get; set; } = null!;

    public ModelRoute Route { get; set; } = null!;

    public string Model => Facts.Model!;

    public string Endpoint => Api == ClientApiKind.Responses ? "responses" : "chat.completions";

    public long ReservedMicros { get; set; }

    public bool HasReservation { get; set; }

    public RequestLimiter.LimitLease? Lease { get; set; }

    public IReadOnlyList<KeyValuePair<string, string>> LimitHeaders { get; set; } = [];

    /// <summary>The session this request belongs to, if the client named one.</summary>
    public string? Session { get; set; }

    /// <summary>TokenPool asked a Chat Completions upstream for usage that the client did not ask for.</summary>
    public bool UsageInjected { get; set; }

    /// <summary>The upstream target that answered (the last one tried).</summary>
    public UpstreamTarget? Target { get; set; }

    /// <summary>An upstream accepted the request (answered 2xx): its input was processed and can be billed.</summary>
    public bool UpstreamAccepted { get; set; }

    /// <summary>Response headers have been sent: from now on errors go into the stream, and no retry can happen.</summary>
    public bool Committed { get; set; }

    /// <summary>Upstream bytes have reached the client.</summary>
    public bool Delivered { get; set; }

    public long? FirstByteTimestamp { get; set; }

    public SseMeter? Meter { get; set; }

    /// <summary>The upstream's response id, from a non-streamed answer (a stream's is on the meter).</summary>
    public string? ResponseId { get; set; }

    /// <summary>Usage read from a non-streamed answer.</summary>
    public TokenUsage? BufferedUsage { get; set; }

    /// <summary>The usage and whether it was estimated, once known.</summary>
    public TokenUsage Usage { get; set; }

    public bool UsageEstimated { get; set; }

    public long CostMicros { get; set; }

    public bool UsageResolved { get; set; }

    public int Status { get; set; }

    public string Outcome { get; set; } = "failed";

    public string? ErrorCode { get; set; }

    public StringBuilder Attempts { get; } = new();

    public List<string> Notes { get; } = [];

    public void RecordAttempt(UpstreamTarget target, string result)
    {
        if (Attempts.Length > 0)
        {
            Attempts.Append(' ');
        }

        Attempts.Append(target.Channel.Id).Append(':').Append(target.KeyId).Append(':').Append(result);
    }

    public int ElapsedMs => (int)Stopwatch.GetElapsedTime(StartTimestamp).TotalMilliseconds;

    public void Dispose()
    {
        Meter?.Dispose();
        Body?.Dispose();
    }
}
