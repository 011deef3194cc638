using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.WebUtilities;
using TokenPool.Upstreams;

namespace TokenPool.Gateway.Relay;

/// <summary>What an upstream's error status (and code) says about the upstream key and about the request.</summary>
internal enum UpstreamFault
{
    /// <summary>The request itself was refused (400, 404, 413, 422…): any upstream would say the same.</summary>
    RequestRefused,

    /// <summary>The key is rate limited (429): it rests for as long as the upstream asks.</summary>
    RateLimited,

    /// <summary>The key's account is out of credit (429 <c>insufficient_quota</c>): the key is disabled.</summary>
    OutOfCredit,

    /// <summary>The upstream rejected the key (401): the key is disabled.</summary>
    KeyRejected,

    /// <summary>The upstream wants payment for the key (402): the key is disabled.</summary>
    PaymentRequired,

    /// <summary>The upstream refused the key access (403): a failure of this key, another may work.</summary>
    Forbidden,

    /// <summary>The upstream is unavailable (503): it rests when it says for how long.</summary>
    Unavailable,

    /// <summary>The upstream failed (408, 5xx): another key may work.</summary>
    ServerError,

    /// <summary>The upstream cannot read reasoning items another account made (400 <c>invalid_encrypted_content</c>).</summary>
    ForeignReasoning,

    /// <summary>A client error with no error body in the API's shape: a misconfigured channel, not a refused request.</summary>
    NotAnApiError,
}

/// <summary>
/// The one place that reads an upstream's error status: the relay (to decide between failing over and answering
/// the client) and the health prober (to decide what a probe's answer means) both classify with it, and both apply
/// what it means for the key's health with <see cref="ApplyAsync"/>.
/// </summary>
internal static partial class UpstreamFaults
{
    public static UpstreamFault Classify(int status, string? code, bool isApiError) => status switch
    {
        429 when code == "insufficient_quota" => UpstreamFault.OutOfCredit,
        429 => UpstreamFault.RateLimited,
        401 => UpstreamFault.KeyRejected,
        402 => UpstreamFault.PaymentRequired,
        403 => UpstreamFault.Forbidden,
        503 => UpstreamFault.Unavailable,
        408 or >= 500 => UpstreamFault.ServerError,
        400 when code == "invalid_encrypted_content" => UpstreamFault.ForeignReasoning,
        _ when !isApiError => UpstreamFault.NotAnApiError,
        _ => UpstreamFault.RequestRefused,
    };

    /// <summary>Whether the fault is the upstream key's (another key may answer), rather than the request's.</summary>
    public static bool IsKeys(this UpstreamFault fault) => fault is not (UpstreamFault.RequestRefused or UpstreamFault.ForeignReasoning);

    /// <summary>
    /// Records what the fault means for the key: a rest for a rate limit (as long as the upstream asked, else the
    /// default cool-down), a disabled key for a rejected or unpaid one, a failure for the breaker otherwise. A refused
    /// request says nothing about the key.
    /// </summary>
    public static async Task ApplyAsync(UpstreamFault fault, int status, string? code, TimeSpan? retryAfter, UpstreamTarget target, UpstreamPool pool)
    {
        var now = Environment.TickCount64;
        switch (fault)
        {
            case UpstreamFault.OutOfCredit:
                await pool.DisableKeyAsync(target, "The upstream says this key's account is out of credit (429 insufficient_quota).", new UpstreamError(429, code, "out of credit"));
                break;
            case UpstreamFault.RateLimited:
            {
                var wait = retryAfter ?? TimeSpan.FromSeconds(pool.Options.DefaultCooldownSeconds);
                target.Health.CoolDown(wait, new UpstreamError(429, code, $"rate limited, resting {wait.TotalSeconds:0.#}s"), now);
                break;
            }

            case UpstreamFault.KeyRejected:
                await pool.DisableKeyAsync(target, $"The upstream rejected this key (401{(UpstreamError.SafeCode(code) is { } safe ? " " + safe : "")}).", new UpstreamError(401, code, "key rejected"));
                break;
            case UpstreamFault.PaymentRequired:
                await pool.DisableKeyAsync(target, "The upstream requires payment for this key (402).", new UpstreamError(402, code, "payment required"));
                break;
            case UpstreamFault.Unavailable when retryAfter is { } rest:
                target.Health.CoolDown(rest, new UpstreamError(503, code, $"unavailable, resting {rest.TotalSeconds:0.#}s"), now);
                break;
            case UpstreamFault.Forbidden or UpstreamFault.Unavailable or UpstreamFault.ServerError:
                target.Health.RecordFailure(new UpstreamError(status, code, ReasonPhrases.GetReasonPhrase(status)), now);
                break;
            case UpstreamFault.NotAnApiError:
                target.Health.RecordFailure(new UpstreamError(status, null, "not an API error body"), now);
                break;
        }
    }

    /// <summary>How long the upstream asked us to wait: <c>retry-after-ms</c>, <c>Retry-After</c>, or "try again in Ns" in its message.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response, string? message)
    {
        if (response.Headers.TryGetValues("retry-after-ms", out var ms)
            && double.TryParse(ms.FirstOrDefault(), NumberStyles.Float, CultureInfo.InvariantCulture, out var milliseconds) && milliseconds >= 0)
        {
            return TimeSpan.FromMilliseconds(milliseconds);
        }

        if (response.Headers.RetryAfter is { } retryAfter)
        {
            if (retryAfter.Delta is { } delta)
            {
                return delta;
            }

            if (retryAfter.Date is { } date)
            {
                var wait = date - DateTimeOffset.UtcNow;
                return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            }
        }

        if (message is not null && TryAgainIn().Match(message) is { Success: true } match
            && double.TryParse(match.Groups[1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount))
        {
            return match.Groups[2].Value.StartsWith("ms", StringComparison.OrdinalIgnoreCase)
                ? TimeSpan.FromMilliseconds(amount)
                : TimeSpan.FromSeconds(amount);
        }

        return null;
    }

    [GeneratedRegex(@"try again in\s*(\d+(?:\.\d+)?)\s*(ms|s|seconds?)", RegexOptions.IgnoreCase)]
    private static partial Regex TryAgainIn();
}
