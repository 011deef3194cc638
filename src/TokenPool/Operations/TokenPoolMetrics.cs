using System.Collections.Frozen;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace TokenPool.Operations;

/// <summary>
/// Every metric TokenPool publishes, in one place (meter <c>TokenPool</c>; the Prometheus names are the OpenTelemetry
/// names with dots as underscores, the unit appended and <c>_total</c> on counters). Labels are bounded sets chosen
/// by the operator or by TokenPool: client API, channel name, catalogued model name, outcome, error code, reason.
/// No label ever carries a key, an email, an account, a request id or any content. The operations guide
/// (<c>Docs/Guides/operations.md</c>) lists each metric with its meaning.
/// </summary>
internal sealed class TokenPoolMetrics : IDisposable
{
    public const string MeterName = "TokenPool";

    /// <summary>The label used for a model or channel that is not one the operator configured (so a client cannot grow the label set).</summary>
    public const string Other = "other";

    /// <summary>Request durations in seconds: from well under a millisecond of gateway overhead to a long agent turn.</summary>
    private static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    /// <summary>Usage-record batches: one record to the writer's maximum.</summary>
    private static readonly long[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _errors;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Counter<long> _tokens;
    private readonly Counter<double> _charged;
    private readonly Counter<long> _refusals;
    private readonly Counter<double> _operatorLoss;
    private readonly UpDownCounter<long> _openStreams;
    private readonly UpDownCounter<long> _openWebSockets;
    private readonly Histogram<long> _settlementBatch;
    private readonly Counter<long> _bridged;

    public TokenPoolMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _requests = _meter.CreateCounter<long>("tokenpool.requests", "{request}",
            "API requests that reached the gateway's pipeline, by client API, channel, model and outcome.");
        _errors = _meter.CreateCounter<long>("tokenpool.errors", "{error}",
            "Requests that ended in an error, by the error code the client was given (or the upstream failure kind).");
        _duration = _meter.CreateHistogram<double>("tokenpool.request.duration", "s",
            "Time from the request's arrival to the end of its answer, by client API, channel and model.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _timeToFirstToken = _meter.CreateHistogram<double>("tokenpool.time_to_first_token", "s",
            "Time from the request's arrival to the first answer byte from the upstream, by channel and model.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _tokens = _meter.CreateCounter<long>("tokenpool.tokens", "{token}",
            "Tokens billed, by type (input, cached_input, output, reasoning), channel and model. Cached input and reasoning are parts of input and output.");
        _charged = _meter.CreateCounter<double>("tokenpool.charged", "USD",
            "Money charged to accounts for requests, by channel and model.");
        _refusals = _meter.CreateCounter<long>("tokenpool.refusals", "{request}",
            "Requests refused before going upstream, by reason (insufficient_quota, key_spend_limit, rate_limit, concurrency, draining, ...).");
        _operatorLoss = _meter.CreateCounter<double>("tokenpool.operator_loss", "USD",
            "Upstream cost that could not be charged to the account (an upstream billed beyond what was held), by channel.");
        _openStreams = _meter.CreateUpDownCounter<long>("tokenpool.streams.open", "{stream}",
            "Streamed answers being relayed now.");
        _openWebSockets = _meter.CreateUpDownCounter<long>("tokenpool.websockets.open", "{connection}",
            "Client WebSocket connections open now.");
        _settlementBatch = _meter.CreateHistogram<long>("tokenpool.settlement.batch_size", "{record}",
            "Usage records written per settlement batch.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = BatchBuckets });
        _bridged = _meter.CreateCounter<long>("tokenpool.bridged", "{request}",
            "Requests translated between a client API and a different channel API, by client API and channel API.");
    }

    /// <summary>
    /// Error codes that may appear as a label: TokenPool's own and the common OpenAI and Anthropic ones. Any other code an
    /// upstream makes up is counted as <c>other</c>, so an upstream cannot grow the label set.
    /// </summary>
    private static readonly FrozenSet<string> KnownErrorCodes = new[]
    {
        "insufficient_quota", "rate_limit_exceeded", "invalid_api_key", "account_disabled", "key_disabled", "key_expired", "key_deleted",
        "key_rotated", "missing_required_parameter", "model_not_found", "model_not_allowed", "unsupported_api", "invalid_json", "invalid_value",
        "request_too_large", "upstream_unavailable", "upstream_unreachable", "upstream_timeout", "upstream_error", "server_error", "internal_error",
        "unknown_url", "wrong_base_url", "method_not_allowed", "context_length_exceeded", "invalid_encrypted_content", "previous_response_not_found",
        "incomplete_body", "server_shutting_down", "stream_truncated", "invalid_request_error", "authentication_error", "permission_error",
        "not_found_error", "rate_limit_error", "api_error", "overloaded_error", "missing_api_key", "invalid_authorization",
    }.ToFrozenSet(StringComparer.Ordinal);

    public Meter Meter => _meter;

    /// <summary>The label for a wire API: <c>responses</c>, <c>chat</c> or <c>messages</c>.</summary>
    public static string ApiLabel(Gateway.Translation.ApiKind api) => api switch
    {
        Gateway.Translation.ApiKind.Responses => "responses",
        Gateway.Translation.ApiKind.ChatCompletions => "chat",
        _ => "messages",
    };

    /// <summary>The label for an error code: the code itself when it is a known one, <c>other</c> otherwise.</summary>
    public static string? ErrorLabel(string? code) => code is null ? null : KnownErrorCodes.Contains(code) ? code : Other;

    /// <summary>One request ended (after its settlement was queued).</summary>
    public void RequestFinished(in RequestMetrics request)
    {
        var tags = new TagList
        {
            { "api", request.Api },
            { "channel", request.Channel ?? "none" },
            { "model", request.Model ?? Other },
            { "outcome", request.Outcome },
        };
        _requests.Add(1, tags);
        if (request.ErrorCode is { } code)
        {
            _errors.Add(1, new KeyValuePair<string, object?>("code", code));
        }

        var byRoute = new TagList
        {
            { "api", request.Api },
            { "channel", request.Channel ?? "none" },
            { "model", request.Model ?? Other },
        };
        _duration.Record(request.DurationSeconds, byRoute);
        if (request.Channel is null)
        {
            return;
        }

        var byChannel = new TagList
        {
            { "channel", request.Channel },
            { "model", request.Model ?? Other },
        };
        if (request.FirstByteSeconds is { } firstByte)
        {
            _timeToFirstToken.Record(firstByte, byChannel);
        }

        AddTokens(request.InputTokens, "input", byChannel);
        AddTokens(request.CachedInputTokens, "cached_input", byChannel);
        AddTokens(request.OutputTokens, "output", byChannel);
        AddTokens(request.ReasoningTokens, "reasoning", byChannel);
        if (request.CostMicros > 0)
        {
            _charged.Add(request.CostMicros / 1_000_000.0, byChannel);
        }
    }

    /// <summary>A request was refused before going upstream.</summary>
    public void Refused(string reason) => _refusals.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <summary>Upstream cost the account could not cover, in micro-dollars.</summary>
    public void OperatorLoss(string channel, long micros)
    {
        if (micros > 0)
        {
            _operatorLoss.Add(micros / 1_000_000.0, new KeyValuePair<string, object?>("channel", channel));
        }
    }

    public void Bridged(string clientApi, string channelApi) =>
        _bridged.Add(1, new KeyValuePair<string, object?>("api", clientApi), new KeyValuePair<string, object?>("channel_api", channelApi));

    public void StreamOpened() => _openStreams.Add(1);

    public void StreamClosed() => _openStreams.Add(-1);

    public void WebSocketOpened() => _openWebSockets.Add(1);

    public void WebSocketClosed() => _openWebSockets.Add(-1);

    public void SettlementBatch(int records) => _settlementBatch.Record(records);

    /// <summary>A gauge read when metrics are collected (leases, queue lengths, open circuits).</summary>
    public void Observe<T>(string name, string unit, string description, Func<IEnumerable<Measurement<T>>> read)
        where T : struct => _meter.CreateObservableGauge(name, read, unit, description);

    public void Dispose() => _meter.Dispose();

    private void AddTokens(long count, string type, TagList byChannel)
    {
        if (count <= 0)
        {
            return;
        }

        var tags = byChannel;
        tags.Add("type", type);
        _tokens.Add(count, tags);
    }
}

/// <summary>What a finished request reports to <see cref="TokenPoolMetrics"/>. Every string is from a bounded set.</summary>
internal readonly record struct RequestMetrics(
    string Api,
    string? Channel,
    string? Model,
    string Outcome,
    string? ErrorCode,
    double DurationSeconds,
    double? FirstByteSeconds,
    long InputTokens,
    long CachedInputTokens,
    long OutputTokens,
    long ReasoningTokens,
    long CostMicros);
