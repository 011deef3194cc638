using System.Diagnostics;

namespace TokenPool.Operations;

/// <summary>
/// TokenPool's spans (activity source <c>TokenPool</c>), named and attributed by OpenTelemetry's GenAI semantic
/// conventions where they fit: one server span per API request (<c>chat {model}</c>), a client span per upstream
/// attempt, and a span for settling the request's usage. Spans carry ids, models, channels, statuses and token
/// counts; never a prompt, a completion, a key or an email. When tracing is off no listener is attached and
/// <see cref="ActivitySource.StartActivity(string, ActivityKind)"/> returns null at the cost of one check.
/// </summary>
internal static class TokenPoolTracing
{
    public const string SourceName = "TokenPool";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>The request's span; null when nobody listens.</summary>
    public static Activity? StartRequest(string api)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity("chat", ActivityKind.Server);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("gen_ai.operation.name", "chat");
            activity.SetTag("tokenpool.api", api);
        }

        return activity;
    }

    /// <summary>Names the span after the model once the body is read (<c>chat gpt-5.5</c>).</summary>
    public static void SetRequestModel(Activity? activity, string model, string requestId, long accountId, long keyId)
    {
        if (activity is not { IsAllDataRequested: true })
        {
            return;
        }

        activity.DisplayName = "chat " + model;
        activity.SetTag("gen_ai.request.model", model);
        activity.SetTag("tokenpool.request_id", requestId);
        activity.SetTag("tokenpool.account_id", accountId);
        activity.SetTag("tokenpool.key_id", keyId);
    }

    /// <summary>One try against one upstream key.</summary>
    public static Activity? StartAttempt(string channel, long channelKeyId, string upstreamApi, string upstreamModel, string host)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var activity = Source.StartActivity("chat " + upstreamModel, ActivityKind.Client);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("gen_ai.operation.name", "chat");
            activity.SetTag("gen_ai.request.model", upstreamModel);
            activity.SetTag("gen_ai.provider.name", upstreamApi == "messages" ? "anthropic" : "openai");
            activity.SetTag("server.address", host);
            activity.SetTag("tokenpool.channel", channel);
            activity.SetTag("tokenpool.channel_key_id", channelKeyId);
            activity.SetTag("tokenpool.upstream_api", upstreamApi);
        }

        return activity;
    }

    public static void EndAttempt(Activity? activity, int status, string result, bool failed)
    {
        if (activity is null)
        {
            return;
        }

        if (status > 0)
        {
            activity.SetTag("http.response.status_code", status);
        }

        activity.SetTag("tokenpool.attempt_result", result);
        if (failed)
        {
            activity.SetStatus(ActivityStatusCode.Error, result);
        }

        activity.Dispose();
    }

    /// <summary>The request's outcome and usage, set on its span before it ends.</summary>
    public static void SetOutcome(Activity? activity, int status, string outcome, string? errorCode, long inputTokens, long outputTokens, bool estimated, string? responseModel)
    {
        if (activity is not { IsAllDataRequested: true })
        {
            return;
        }

        activity.SetTag("http.response.status_code", status);
        activity.SetTag("tokenpool.outcome", outcome);
        activity.SetTag("gen_ai.usage.input_tokens", inputTokens);
        activity.SetTag("gen_ai.usage.output_tokens", outputTokens);
        activity.SetTag("tokenpool.usage_estimated", estimated);
        if (responseModel is not null)
        {
            activity.SetTag("gen_ai.response.model", responseModel);
        }

        if (errorCode is not null)
        {
            activity.SetTag("error.type", errorCode);
            activity.SetStatus(ActivityStatusCode.Error, errorCode);
        }
    }

    /// <summary>Settling one request: resolving its usage and queueing its record and charge.</summary>
    public static Activity? StartSettlement() => Source.HasListeners() ? Source.StartActivity("settle", ActivityKind.Internal) : null;
}
