using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Gateway.Dialects;
using TokenPool.Gateway.Relay;
using TokenPool.Gateway.Translation;
using TokenPool.Hosting;
using TokenPool.Keys;
using TokenPool.Operations;
using TokenPool.Upstreams;

namespace TokenPool.Gateway;

/// <summary>
/// One API request, end to end, in the client's API (its <see cref="Dialect"/> decides the envelope of every error):
/// <list type="number">
/// <item>refuse at once, retryably, while the server is stopping; refuse oversized session and id headers;</item>
/// <item>authenticate the key (from memory when warm; shape and checksum checked before any lookup);</item>
/// <item>admit (<see cref="AdmitAsync"/>): read the body once into a pooled buffer, pick out model, stream and limits,
/// check the model against the catalogue, the pool and the key's allow-list, decide the output limit the upstream gets,
/// take a rate-limit slot, then hold the request's most likely cost from its key's lease, which is topped up in one
/// atomic statement when it runs short (<see cref="QuotaLedger"/>);</item>
/// <item>relay to the upstream with failover before the first byte (<see cref="UpstreamRelay"/>), ending early if the
/// key is revoked or the server's drain deadline passes (<see cref="LiveRequests"/>);</item>
/// <item>settle: the usage record and the exact charge go to the batched writer, exactly once.</item>
/// </list>
/// </summary>
internal sealed partial class GatewayHandler(
    ApiKeyCache keys,
    PriceCatalog prices,
    UpstreamPool pool,
    QuotaLedger ledger,
    UsageWriter usageWriter,
    RequestLimiter limiter,
    UpstreamRelay relay,
    UsageResolver usageResolver,
    ResponseSizes responseSizes,
    BridgeSource bridges,
    LiveRequests live,
    GatewayDrain drain,
    PublicUrls urls,
    TokenPoolMetrics metrics,
    IDbContextFactory<TokenPoolDb> dbFactory,
    IOptions<GatewayOptions> gatewayOptions,
    IOptions<BillingOptions> billingOptions,
    TimeProvider time,
    ILogger<GatewayHandler> logger)
{
    /// <summary>The id of the request's usage record (its request id), sent on every response that gets one.</summary>
    public const string UsageRecordIdHeader = "x-tokenpool-usage-record-id";

    private readonly string _requestPrefix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
    private long _requestSequence = BitConverter.ToInt64(RandomNumberGenerator.GetBytes(8)) & 0x0000_7FFF_FFFF_FFFF;

    private readonly GatewayOptions _gateway = gatewayOptions.Value;
    private readonly BillingOptions _billing = billingOptions.Value;

    private long _inFlight;

    /// <summary>API requests being handled now, counted until their usage record is queued.</summary>
    public long InFlight => Interlocked.Read(ref _inFlight);

    public async Task HandleAsync(HttpContext context, Dialect dialect)
    {
        Interlocked.Increment(ref _inFlight);
        using var activity = TokenPoolTracing.StartRequest(TokenPoolMetrics.ApiLabel(dialect.Api));
        try
        {
            await HandleOneAsync(context, dialect, activity);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private async Task HandleOneAsync(HttpContext context, Dialect dialect, Activity? activity)
    {
        var requestId = NewRequestId();
        var started = new RequestStart(requestId, time.GetUtcNow().UtcDateTime, Stopwatch.GetTimestamp());
        context.Response.Headers["x-tokenpool-request-id"] = requestId;

        // 1. A stopping server takes no new work; session and id headers are bounded before anything keeps them.
        if (drain.Draining)
        {
            metrics.Refused("server_shutting_down");
            await dialect.WriteErrorAsync(context, GatewayErrors.ServerStopping(_gateway.DrainRetryAfterSeconds));
            return;
        }

        if (ClientStringLimits.FirstTooLong(context.Request.Headers) is { } tooLong)
        {
            await dialect.WriteErrorAsync(context, GatewayErrors.HeaderTooLong(tooLong.Header, tooLong.Limit));
            return;
        }

        // 2. Authenticate.
        var key = await AuthenticateAsync(context, recheck: false, dialect);
        if (key is null)
        {
            return;
        }

        var client = new ClientResponse(context, dialect, requestId, []);
        AdmissionResult admitted = default;
        RelayResult? relayed = null;
        Ending? ending = null;
        var stop = live.Register(key);
        try
        {
            // 3. Admit.
            admitted = await AdmitAsync(context, dialect, key);
            if (admitted.Refusal is { } refusal)
            {
                metrics.Refused(TokenPoolMetrics.ErrorLabel(refusal.Code) ?? "invalid_request");
                ending = new Ending(RequestOutcome.Rejected, refusal.Status, refusal.Code);
                await client.FailAsync(refusal, null, admitted.Facts?.Model ?? "");
                return;
            }

            // 4. Relay.
            var admission = admitted.Admission!;
            TokenPoolTracing.SetRequestModel(activity, admission.Model, requestId, key.AccountId, key.KeyId);
            client = new ClientResponse(context, dialect, requestId, admission.LimitHeaders);
            relayed = await relay.RelayAsync(new RelayRequest(admission, client, stop));
        }
        catch (BadHttpRequestException ex)
        {
            // The client stopped sending the body part-way (it went away, or its Content-Length was wrong): not TokenPool's fault.
            ending = new Ending(RequestOutcome.ClientClosed, ex.StatusCode, "incomplete_body");
            if (!client.Committed && !context.RequestAborted.IsCancellationRequested)
            {
                await client.FailAsync(GatewayErrors.InvalidParameter("body", "The request body ended before all of it arrived. Please send the request again."), null, "");
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            LogUnexpected(logger, requestId, ex);
            var wasCommitted = client.Committed;
            ending = new Ending(RequestOutcome.InternalError, wasCommitted ? context.Response.StatusCode : 500, "internal_error");
            await client.FailAsync(GatewayErrors.Internal(requestId), relayed?.Meter, admitted.Facts?.Model ?? "");
        }
        catch (OperationCanceledException)
        {
            ending = new Ending(RequestOutcome.ClientClosed, context.Response.StatusCode, null);
        }
        finally
        {
            live.Unregister(stop);

            // 5. Settle: every request whose body named a model gets its usage record.
            if (admitted.Facts?.Model is not null)
            {
                await SettleAsync(started, key, dialect, admitted, relayed, ending, activity);
            }
            else
            {
                relayed?.Meter?.Dispose();
            }

            admitted.Body?.Dispose();
        }
    }

    /// <summary>GET /v1/models: the models this key may use, in OpenAI's list shape.</summary>
    public async Task ListModelsAsync(HttpContext context)
    {
        var key = await AuthenticateAsync(context, recheck: true);
        if (key is null)
        {
            return;
        }

        var snapshot = pool.Snapshot;
        var catalogue = prices.All;
        var models = snapshot.Routes.Keys.Where(m => catalogue.ContainsKey(m) && key.AllowsModel(m)).Order(StringComparer.Ordinal);
        context.Response.ContentType = "application/json";
        await using var writer = new System.Text.Json.Utf8JsonWriter(context.Response.BodyWriter);
        writer.WriteStartObject();
        writer.WriteString("object"u8, "list"u8);
        writer.WriteStartArray("data"u8);
        foreach (var model in models)
        {
            writer.WriteStartObject();
            writer.WriteString("id"u8, model);
            writer.WriteString("object"u8, "model"u8);
            writer.WriteNumber("created"u8, new DateTimeOffset(catalogue[model].UpdatedAt, TimeSpan.Zero).ToUnixTimeSeconds());
            writer.WriteString("owned_by"u8, "tokenpool"u8);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>
    /// Finds the key the request carries and checks that it may be used. Writes the error and returns null
    /// otherwise. With <paramref name="recheck"/>, reads the key from the database even when cached
    /// (for requests that reserve nothing, so that a deleted key is refused at once there too).
    /// </summary>
    internal async ValueTask<KeyIdentity?> AuthenticateAsync(HttpContext context, bool recheck = false, Dialect? dialect = null)
    {
        dialect ??= ApiTable.For(ApiKind.ChatCompletions);
        var keysPage = urls.ApiKeysPage(context);
        var headers = context.Request.Headers;
        string? raw = headers.Authorization.Count > 0 ? headers.Authorization[0] : null;
        string? key = null;
        if (string.IsNullOrWhiteSpace(raw))
        {
            // Azure-style and Anthropic-style tools send the key in their own header.
            key = headers["api-key"].FirstOrDefault() ?? headers["x-api-key"].FirstOrDefault();
            if (string.IsNullOrWhiteSpace(key))
            {
                await dialect.WriteErrorAsync(context, GatewayErrors.MissingKey(keysPage));
                return null;
            }

            key = key.Trim();
        }
        else if (raw.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            key = raw.AsSpan(7).Trim().Length == raw.Length - 7 ? raw[7..] : raw[7..].Trim();
        }
        else
        {
            await dialect.WriteErrorAsync(context, GatewayErrors.NotBearer(keysPage));
            return null;
        }

        var shape = ApiKeyFormat.Check(key);
        if (shape != ApiKeyShape.Valid)
        {
            await dialect.WriteErrorAsync(context, GatewayErrors.BadKeyShape(shape, key.Length, keysPage));
            return null;
        }

        var identity = recheck
            ? await keys.RefreshAsync(keys.LookupHash(key), context.RequestAborted)
            : await keys.FindAsync(key, context.RequestAborted);
        if (identity is null)
        {
            await dialect.WriteErrorAsync(context, GatewayErrors.UnknownKey(key, keysPage));
            return null;
        }

        if (identity.Refusal(time.GetUtcNow().UtcDateTime) is { } refusal)
        {
            await dialect.WriteErrorAsync(context, GatewayErrors.Refused(refusal, identity, keysPage));
            return null;
        }

        return identity;
    }

    /// <summary>
    /// Everything before the upstream is called: the body, the model, the output limit, the limits and the hold.
    /// Returns the admission, or the error to send (with what was read so far, for the usage record).
    /// </summary>
    private async Task<AdmissionResult> AdmitAsync(HttpContext context, Dialect dialect, KeyIdentity key)
    {
        var (body, bodyError) = await RequestBody.ReadAsync(context, _gateway.MaxRequestBodyBytes, context.RequestAborted);
        if (body is null)
        {
            return new AdmissionResult { Refusal = bodyError };
        }

        if (!RequestInspector.TryInspect(body.Span, out var facts, out var inspectError))
        {
            return new AdmissionResult { Refusal = inspectError, Body = body };
        }

        // From here on the request gets a usage record, keyed by its request id, whatever happens.
        context.Response.Headers[UsageRecordIdHeader] = context.Response.Headers["x-tokenpool-request-id"];
        var model = facts.Model!;
        var route = pool.Snapshot.Route(model);
        var price = prices.Find(model);
        var refused = new AdmissionResult { Body = body, Facts = facts, Price = price };
        if (route is null || price is null)
        {
            return refused with { Refusal = GatewayErrors.ModelNotFound(model, ClosestModel(model, key), urls.ApiBaseUrl(context), urls.ModelsPage(context)) };
        }

        if (!key.AllowsModel(model))
        {
            return refused with { Refusal = GatewayErrors.ModelNotAllowed(model, key.AllowedModels!, urls.ApiKeysPage(context)) };
        }

        if (!route.CanCarry(dialect.Api, bridges))
        {
            return refused with { Refusal = GatewayErrors.ApiNotServed(model, dialect.Api, route.ServedApis) };
        }

        // The input a previous_response_id brings along is not in the body: hold it as the upstream will bill it.
        long? priorTokens = null;
        var priorHeld = 0L;
        if (facts.PreviousResponseId is { } previous)
        {
            priorTokens = responseSizes.Find(key.AccountId, previous);
            if (priorTokens is null && price.ContextWindow is null)
            {
                return refused with { Refusal = GatewayErrors.UnknownPreviousResponse(model) };
            }

            priorHeld = priorTokens ?? price.ContextWindow!.Value;
        }

        var inputEstimate = (body.Length + _billing.ReserveBytesPerInputToken - 1) / _billing.ReserveBytesPerInputToken + priorHeld;
        var outputLimit = facts.MaxOutputTokens ?? price.ReserveOutputTokens;
        var decision = limiter.TryAcquire(key, inputEstimate, Environment.TickCount64);
        if (decision.Refusal is not null)
        {
            return refused with { Refusal = decision.Refusal };
        }

        var amount = Pricing.Cost(new TokenUsage(inputEstimate, 0, outputLimit, 0), price);
        var now = time.GetUtcNow().UtcDateTime;
        var longest = TimeSpan.FromSeconds(pool.Options.TotalTimeoutSeconds);
        if (route.LongestTotalTimeout > longest)
        {
            longest = route.LongestTotalTimeout;
        }

        var expires = now + longest + TimeSpan.FromMinutes(_billing.ReservationGraceMinutes);
        var outcome = await ledger.ReserveAsync(key, amount, now, expires, context.RequestAborted);
        if (outcome == ReserveOutcome.Reserved)
        {
            return new AdmissionResult
            {
                Body = body,
                Facts = facts,
                Price = price,
                Admission = new Admission
                {
                    Key = key,
                    Dialect = dialect,
                    Body = body,
                    Facts = facts,
                    Price = price,
                    Route = route,
                    Session = SessionAffinity.SessionName(context.Request, facts.PromptCacheKey, facts.PreviousResponseId, key.AccountId),
                    Lease = decision.Lease,
                    LimitHeaders = decision.Headers,
                    OutputLimit = outputLimit,
                    InputTokensHeld = inputEstimate,
                    PriorTokens = priorTokens,
                    ReservedMicros = amount,
                },
            };
        }

        decision.Lease?.Release(0);
        return refused with { Refusal = await ReservationRefusalAsync(context, key, outcome, amount, now) };
    }

    private async Task<ApiError> ReservationRefusalAsync(HttpContext context, KeyIdentity key, ReserveOutcome outcome, long amount, DateTime now)
    {
        switch (outcome)
        {
            case ReserveOutcome.KeyRefused:
            {
                keys.InvalidateKey(key.KeyId);
                var fresh = await keys.RefreshAsync(key.LookupHash, context.RequestAborted);
                var refusal = fresh?.Refusal(now) ?? KeyRefusal.Deleted;
                return GatewayErrors.Refused(refusal, fresh ?? key, urls.ApiKeysPage(context));
            }

            case ReserveOutcome.KeySpendLimit:
                return GatewayErrors.KeySpendLimit(key.Mask, await KeyLimitAsync(key.KeyId, context.RequestAborted), urls.UsagePage(context), urls.ApiKeysPage(context));
            case ReserveOutcome.AccountDisabled:
                keys.InvalidateAccount(key.AccountId);
                return GatewayErrors.Refused(KeyRefusal.AccountDisabled, key, urls.ApiKeysPage(context));
            default:
                return GatewayErrors.InsufficientQuota(
                    await BalanceAsync(key.AccountId, context.RequestAborted) + ledger.UnusedMicros(key.AccountId), amount, urls.UsagePage(context));
        }
    }

    /// <summary>Works out what the request used and queues its usage record and settlement.</summary>
    private async Task SettleAsync(RequestStart started, KeyIdentity key, Dialect dialect, AdmissionResult admitted, RelayResult? relayed, Ending? ending,
        Activity? activity)
    {
        using var settling = TokenPoolTracing.StartSettlement();
        var admission = admitted.Admission;
        var usage = relayed?.Usage
            ?? (admission is null ? ResolvedUsage.None : usageResolver.FromStream(admission, relayed?.Meter, relayed?.Accepted ?? false));
        relayed?.Meter?.Dispose();
        admission?.Lease?.Release(usage.Usage.InputTokens + usage.Usage.OutputTokens);
        var price = admitted.Price;
        var outcome = ending?.Outcome ?? relayed?.Outcome ?? RequestOutcome.Failed;
        var notes = relayed?.Notes ?? [];
        if (usage.Note is not null)
        {
            notes = [.. notes, usage.Note];
        }

        var record = new UsageRecord
        {
            RequestId = started.RequestId,
            CreatedAt = started.At,
            AccountId = key.AccountId,
            KeyId = key.KeyId,
            ChannelId = relayed?.Target?.Channel.Id,
            ChannelKeyId = relayed?.Target?.KeyId,
            Model = admitted.Facts!.Model!,
            Endpoint = dialect.Endpoint,
            IsStream = admitted.Facts.Stream,
            Status = ending?.Status ?? relayed?.Status ?? 0,
            Outcome = outcome.Name(),
            ErrorCode = ending is null ? relayed?.ErrorCode : ending.ErrorCode ?? relayed?.ErrorCode,
            InputTokens = usage.Usage.InputTokens,
            CachedInputTokens = usage.Usage.CachedInputTokens,
            OutputTokens = usage.Usage.OutputTokens,
            ReasoningTokens = usage.Usage.ReasoningTokens,
            IsEstimated = usage.Estimated,
            CostMicros = price is null ? 0 : usage.CostMicros,
            InputMicrosPerMillion = price?.InputMicrosPerMillion ?? 0,
            CachedInputMicrosPerMillion = price?.CachedInputMicrosPerMillion ?? 0,
            OutputMicrosPerMillion = price?.OutputMicrosPerMillion ?? 0,
            LatencyMs = (int)Stopwatch.GetElapsedTime(started.Timestamp).TotalMilliseconds,
            FirstTokenMs = relayed?.FirstByteTimestamp is { } first
                ? (int)Stopwatch.GetElapsedTime(started.Timestamp, first).TotalMilliseconds
                : null,
            Attempts = string.IsNullOrEmpty(relayed?.Attempts) ? null : relayed.Attempts,
            Note = notes.Count == 0 ? null : string.Join(' ', notes),
        };
        await usageWriter.EnqueueAsync(new Settlement(record, admission?.ReservedMicros ?? 0, admission is not null));
        var catalogued = price is null ? null : record.Model;
        metrics.RequestFinished(new RequestMetrics(
            TokenPoolMetrics.ApiLabel(dialect.Api),
            relayed?.Target?.Channel.Name,
            catalogued,
            record.Outcome,
            TokenPoolMetrics.ErrorLabel(record.ErrorCode),
            record.LatencyMs / 1000.0,
            record.FirstTokenMs / 1000.0,
            usage.Usage.InputTokens,
            usage.Usage.CachedInputTokens,
            usage.Usage.OutputTokens,
            usage.Usage.ReasoningTokens,
            record.CostMicros));
        TokenPoolTracing.SetOutcome(activity, record.Status, record.Outcome, TokenPoolMetrics.ErrorLabel(record.ErrorCode),
            usage.Usage.InputTokens, usage.Usage.OutputTokens, usage.Estimated, catalogued);
        LogRequest(logger, started.RequestId, key.KeyId, record.Model, record.Status, record.Outcome,
            usage.Usage.InputTokens, usage.Usage.OutputTokens, usage.Estimated, record.LatencyMs);
    }

    private string? ClosestModel(string model, KeyIdentity key)
    {
        var candidates = pool.Snapshot.Routes.Keys.Where(m => prices.Find(m) is not null && key.AllowsModel(m));
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var candidate in candidates)
        {
            var distance = ModelNames.Distance(model.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance || (distance == bestDistance && string.CompareOrdinal(candidate, best) < 0))
            {
                best = candidate;
                bestDistance = distance;
            }
        }

        return best is not null && bestDistance <= Math.Max(2, model.Length / 3) ? best : null;
    }

    private async Task<long> BalanceAsync(long accountId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Accounts.Where(a => a.Id == accountId).Select(a => a.BalanceMicros).FirstOrDefaultAsync(cancellationToken);
    }

    private async Task<long?> KeyLimitAsync(long keyId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.ApiKeys.Where(k => k.Id == keyId).Select(k => k.SpendLimitMicros).FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>
    /// A request id unique across processes and restarts: a random prefix chosen at start, then a counter that
    /// starts at a random value (no random draw per request).
    /// </summary>
    private string NewRequestId()
    {
        var sequence = (ulong)Interlocked.Increment(ref _requestSequence) & 0xFFFF_FFFF_FFFF;
        return string.Create(28, (Prefix: _requestPrefix, Sequence: sequence), static (chars, state) =>
        {
            "req_".CopyTo(chars);
            state.Prefix.CopyTo(chars[4..]);
            state.Sequence.TryFormat(chars[16..], out _, "x12", CultureInfo.InvariantCulture);
        });
    }

    /// <summary>When a request started, by the wall clock (for its record) and by the stopwatch (for its latency).</summary>
    private readonly record struct RequestStart(string RequestId, DateTime At, long Timestamp);

    /// <summary>How a request ended when it ended outside the relay (refused, cut, failed inside TokenPool).</summary>
    private sealed record Ending(RequestOutcome Outcome, int Status, string? ErrorCode);

    /// <summary>Admission's answer: the admission, or the refusal with what was read before it.</summary>
    private readonly record struct AdmissionResult
    {
        public Admission? Admission { get; init; }

        public ApiError? Refusal { get; init; }

        public RequestBody? Body { get; init; }

        public RequestFacts? Facts { get; init; }

        public ModelPrice? Price { get; init; }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information,
        Message = "Request {RequestId} key {KeyId} model {Model}: {Status} {Outcome}, {InputTokens} in, {OutputTokens} out (estimated: {Estimated}), {LatencyMs} ms")]
    private static partial void LogRequest(ILogger logger, string requestId, long keyId, string model, int status, string outcome,
        long inputTokens, long outputTokens, bool estimated, int latencyMs);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "Request {RequestId} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, string requestId, Exception exception);
}
