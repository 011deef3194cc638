using System.Diagnostics;
using TokenPool.Gateway.Dialects;
using TokenPool.Operations;
using TokenPool.Upstreams;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// Sends an admitted request upstream and relays the answer, failing over between targets:
/// <list type="number">
/// <item>plan the targets (<see cref="RoutePlan"/>): the session's own first, then by priority and weight, channels
/// that serve the client's API themselves before those reached over a bridge;</item>
/// <item>for each target, one attempt (<see cref="UpstreamAttempt"/>): passed through when the channel serves the
/// client's API, carried over the bridge otherwise; reasoning items another upstream account made are left out when
/// the session moves, and resent without when an upstream refuses them;</item>
/// <item>on a connect error, header timeout, 429, 5xx or rejected upstream key, try the next target, as long as no
/// upstream byte has reached the client; a refused request (400, 404…) goes to the client at once;</item>
/// <item>when the answer is complete, keep the session on its target, and remember a stored response's size for a
/// later <c>previous_response_id</c>;</item>
/// <item>when every attempt failed (or none could be made), tell the client once, clearly, in its API's envelope (or
/// its terminal event, if keep-alives already started the stream).</item>
/// </list>
/// </summary>
internal sealed class UpstreamRelay(
    UpstreamPool pool,
    SessionAffinity affinity,
    ResponseSizes responseSizes,
    BridgeSource bridges,
    UpstreamAttempt attempts,
    TokenPoolMetrics metrics)
{
    public async Task<RelayResult> RelayAsync(RelayRequest relay)
    {
        var admission = relay.Admission;
        var client = relay.Client;
        var api = relay.ClientDialect.Api;
        var options = pool.Options;
        var pinnedKey = affinity.Find(admission.Session);
        var preferred = pinnedKey is { } id ? admission.Route.All.FirstOrDefault(t => t.KeyId == id) : null;
        var plan = new RoutePlan(admission.Route, api, bridges, preferred);
        var hasReasoning = relay.ClientDialect.HasForeignableReasoning(admission.Body.Span);
        var log = new AttemptLog();

        var relayStarted = Stopwatch.GetTimestamp();
        AttemptResult? last = null;
        while (plan.Attempts < options.MaxAttempts && plan.Next(Environment.TickCount64) is { } target)
        {
            // The request may take as long as the channel now serving it allows, counted from its start.
            var totalDeadline = relayStarted + (long)(target.Channel.TotalTimeout.TotalSeconds * Stopwatch.Frequency);
            var upstreamApi = target.UpstreamApiFor(api, bridges)!.Value;
            var route = new AttemptRoute(target, ApiTable.For(upstreamApi), bridges.Find(api, upstreamApi));

            // Encrypted reasoning can be read only by the upstream account that wrote it: when the session moves to
            // another key, leave those items out rather than fail the request.
            var dropReasoning = hasReasoning && !route.Bridged && pinnedKey is not null && pinnedKey != target.KeyId;
            var span = TokenPoolTracing.StartAttempt(target.Channel.Name, target.KeyId, TokenPoolMetrics.ApiLabel(upstreamApi),
                target.Channel.UpstreamModel(admission.Model), target.Channel.BaseUri.Host);
            if (route.Bridged)
            {
                metrics.Bridged(TokenPoolMetrics.ApiLabel(api), TokenPoolMetrics.ApiLabel(upstreamApi));
            }

            var result = await attempts.RunAsync(relay, route, dropReasoning, totalDeadline, log);
            if (result.Kind == AttemptKind.RetryWithoutReasoning)
            {
                result = await attempts.RunAsync(relay, route, dropReasoning: true, totalDeadline, log);
            }

            TokenPoolTracing.EndAttempt(span, result.Kind == AttemptKind.Finished ? relay.Client.Status : result.Error?.Status ?? 0,
                result.Kind.ToString(), failed: result.Kind != AttemptKind.Finished);

            if (result.Kind == AttemptKind.Finished)
            {
                if (result.Outcome is RequestOutcome.Completed or RequestOutcome.Incomplete)
                {
                    affinity.Pin(admission.Session, target.KeyId);
                    if (!route.Bridged && relay.ClientDialect.KeepsResponse(admission.Facts) && result.ResponseId is { } responseId)
                    {
                        // Only a stored response can be named by a later previous_response_id; Codex never stores.
                        affinity.RememberResponse(admission.Key.AccountId, responseId, target.KeyId);
                        var usage = result.Usage?.Usage ?? (result.Meter?.Usage is { IsPlausible: true } reported ? reported : null);
                        if (usage is { } known)
                        {
                            responseSizes.Remember(admission.Key.AccountId, responseId, known.InputTokens + known.OutputTokens);
                        }
                    }
                }

                return Result(relay, result, log);
            }

            last = result;
            if (result.Kind == AttemptKind.Stop)
            {
                break;
            }
        }

        return await FailAsync(relay, plan, last, log);
    }

    private static RelayResult Result(RelayRequest relay, AttemptResult result, AttemptLog log) => new()
    {
        Outcome = result.Outcome,
        ErrorCode = result.ErrorCode,
        Status = relay.Client.Status,
        Target = log.Last,
        Attempts = log.ToString(),
        Notes = log.Notes,
        Accepted = result.Accepted,
        Meter = result.Meter,
        Usage = result.Usage,
        FirstByteTimestamp = relay.Client.FirstByteTimestamp,
    };

    /// <summary>Every attempt failed (or none could be made): tell the client once, clearly.</summary>
    private static async Task<RelayResult> FailAsync(RelayRequest relay, RoutePlan plan, AttemptResult? last, AttemptLog log)
    {
        var admission = relay.Admission;
        ApiError error;
        if (last?.Error is { } lastError)
        {
            error = lastError;
        }
        else if (plan.EarliestAvailableAt() is { } availableAt)
        {
            var wait = TimeSpan.FromMilliseconds(Math.Max(1000, availableAt - Environment.TickCount64));
            error = admission.Route.All.All(t => t.Health.State == BreakerState.Closed && t.Health.DisabledReason is null)
                ? GatewayErrors.UpstreamRateLimited(admission.Model, wait)
                : GatewayErrors.NoUpstreamAvailable(admission.Model, wait);
        }
        else
        {
            error = GatewayErrors.NoUpstreamAvailable(admission.Model, null);
        }

        var committed = relay.Client.Committed;
        await relay.Client.FailAsync(error, null, admission.Model);
        return new RelayResult
        {
            Outcome = RequestOutcome.UpstreamError,
            ErrorCode = error.Code,
            Status = committed ? 200 : error.Status,
            Target = log.Last,
            Attempts = log.ToString(),
            Notes = log.Notes,
            FirstByteTimestamp = relay.Client.FirstByteTimestamp,
        };
    }
}
