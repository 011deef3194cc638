using System.Globalization;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Hosting;
using TokenPool.Keys;
using TokenPool.Operations;
using TokenPool.Upstreams;

namespace TokenPool.Gateway;

/// <summary>
/// One API request, end to end:
/// <list type="number">
/// <item>authenticate the key (from memory when warm; shape and checksum checked before any lookup);</item>
/// <item>read the body once into a pooled buffer and pick out model, stream and limits;</item>
/// <item>check the model against the catalogue, the pool and the key's allow-list;</item>
/// <item>take a rate-limit slot, then hold the request's most likely cost from its key's lease, which is topped up in
/// one atomic statement when it runs short (<see cref="QuotaLedger"/>);</item>
/// <item>relay to the upstream with failover before the first byte (<see cref="UpstreamRelay"/>);</item>
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

    public async Task HandleAsync(HttpContext context, ClientApiKind api)
    {
        Interlocked.Increment(ref _inFlight);
        using var activity = TokenPoolTracing.StartRequest(ApiName(api));
        try
        {
            await HandleOneAsync(context, api, activity);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    private static string ApiName(ClientApiKind api) => api == ClientApiKind.Responses ? "responses" : "chat";

    private async Task HandleOneAsync(HttpContext context, ClientApiKind api, System.Diagnostics.Activity? activity)
    {
        using var exchange = new Exchange(context, api, NewRequestId(), time.GetUtcNow().UtcDateTime);
        context.Response.Headers["x-tokenpool-request-id"] = exchange.RequestId;

        var key = await AuthenticateAsync(context);
        if (key is null)
        {
            return;
        }

        exchange.Key = key;
        try
        {
            if (await AdmitAsync(exchange) is { } refusal)
            {
                exchange.Status = refusal.Status;
                exchange.ErrorCode = refusal.Code;
                exchange.Outcome = "rejected";
                metrics.Refused(refusal.Code ?? "invalid_request");
                await refusal.WriteAsync(context);
                return;
            }

            TokenPoolTracing.SetRequestModel(activity, exchange.Model, exchange.RequestId, key.AccountId, key.KeyId);

            await relay.RelayAsync(exchange);
        }
        catch (BadHttpRequestException ex)
        {
            // The client stopped sending the body part-way (it went away, or its Content-Length was wrong): not TokenPool's fault.
            exchange.Outcome = "client_closed";
            exchange.ErrorCode = "incomplete_body";
            if (!exchange.Committed && !context.RequestAborted.IsCancellationRequested)
            {
                exchange.Status = ex.StatusCode;
                await GatewayErrors.InvalidParameter("body", "The request body ended before all of it arrived. Please send the request again.").WriteAsync(context);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            LogUnexpected(logger, exchange.RequestId, ex);
            exchange.Outcome = "internal_error";
            exchange.ErrorCode = "internal_error";
            if (!exchange.Committed)
            {
                exchange.Status = 500;
                await GatewayErrors.Internal(exchange.RequestId).WriteAsync(context);
            }
        }
        catch (OperationCanceledException)
        {
            exchange.Outcome = "client_closed";
        }
        finally
        {
            if (exchange.Facts?.Model is not null)
            {
                await SettleAsync(exchange, activity);
            }
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
    internal async ValueTask<KeyIdentity?> AuthenticateAsync(HttpContext context, bool recheck = false)
    {
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
                await GatewayErrors.MissingKey(keysPage).WriteAsync(context);
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
            await GatewayErrors.NotBearer(keysPage).WriteAsync(context);
            return null;
        }

        var shape = ApiKeyFormat.Check(key);
        if (shape != ApiKeyShape.Valid)
        {
            await GatewayErrors.BadKeyShape(shape, key.Length, keysPage).WriteAsync(context);
            return null;
        }

        var identity = recheck
            ? await keys.RefreshAsync(keys.LookupHash(key), context.RequestAborted)
            : await keys.FindAsync(key, context.RequestAborted);
        if (identity is null)
        {
            await GatewayErrors.UnknownKey(key, keysPage).WriteAsync(context);
            return null;
        }

        if (identity.Refusal(time.GetUtcNow().UtcDateTime) is { } refusal)
        {
            await GatewayErrors.Refused(refusal, identity, keysPage).WriteAsync(context);
            return null;
        }

        return identity;
    }

    /// <summary>Everything before the upstream is called. Returns the error to send, or null when admitted.</summary>
    private async Task<ApiError?> AdmitAsync(Exchange exchange)
    {
        var context = exchange.Context;
        var (body, bodyError) = await RequestBody.ReadAsync(context, _gateway.MaxRequestBodyBytes, context.RequestAborted);
        if (body is null)
        {
            return bodyError;
        }

        exchange.Body = body;
        if (!RequestInspector.TryInspect(body.Span, out var facts, out var inspectError))
        {
            return inspectError;
        }

        exchange.Facts = facts;

        // From here on the request gets a usage record, keyed by its request id, whatever happens.
        context.Response.Headers[UsageRecordIdHeader] = exchange.RequestId;
        var model = facts.Model!;
        var key = exchange.Key;
        var route = pool.Snapshot.Route(model);
        var price = prices.Find(model);
        if (route is null || price is null)
        {
            return GatewayErrors.ModelNotFound(model, ClosestModel(model, key), urls.ApiBaseUrl(context), urls.ModelsPage(context));
        }

        if (!key.AllowsModel(model))
        {
            return GatewayErrors.ModelNotAllowed(model, key.AllowedModels!, urls.ApiKeysPage(context));
        }

        if (!route.Serves(exchange.Api))
        {
            return GatewayErrors.NeedsResponsesUpstream(model);
        }

        exchange.Route = route;
        exchange.Price = price;
        exchange.UsageInjected = exchange.Api == ClientApiKind.ChatCompletions && facts.Stream && !facts.IncludeUsage;
        exchange.Session = SessionAffinity.SessionName(context.Request, facts.PromptCacheKey, facts.PreviousResponseId, key.AccountId);

        var inputEstimate = (body.Length + _billing.ReserveBytesPerInputToken - 1) / _billing.ReserveBytesPerInputToken;
        var outputEstimate = facts.MaxOutputTokens ?? price.ReserveOutputTokens;
        var decision = limiter.TryAcquire(key, inputEstimate, Environment.TickCount64);
        if (decision.Refusal is not null)
        {
            return decision.Refusal;
        }

        exchange.Lease = decision.Lease;
        exchange.LimitHeaders = decision.Headers;

        var amount = Pricing.Cost(new TokenUsage(inputEstimate, 0, outputEstimate, 0), price);
        var now = time.GetUtcNow().UtcDateTime;
        var longest = TimeSpan.FromSeconds(pool.Options.TotalTimeoutSeconds);
        if (exchange.Route.LongestTotalTimeout > longest)
        {
            longest = exchange.Route.LongestTotalTimeout;
        }

        var expires = now + longest + TimeSpan.FromMinutes(_billing.ReservationGraceMinutes);
        var outcome = await ledger.ReserveAsync(key, amount, now, expires, context.RequestAborted);
        switch (outcome)
        {
            case ReserveOutcome.Reserved:
                exchange.ReservedMicros = amount;
                exchange.HasReservation = true;
                return null;
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
    private async Task SettleAsync(Exchange exchange, System.Diagnostics.Activity? activity)
    {
        using var settling = TokenPoolTracing.StartSettlement();
        if (exchange.Price is not null && !exchange.UsageResolved)
        {
            usageResolver.Resolve(exchange);
        }

        var usage = exchange.Usage;
        exchange.Lease?.Release(usage.InputTokens + usage.OutputTokens);
        var price = exchange.Price;
        var record = new UsageRecord
        {
            RequestId = exchange.RequestId,
            CreatedAt = exchange.StartedAt,
            AccountId = exchange.Key.AccountId,
            KeyId = exchange.Key.KeyId,
            ChannelId = exchange.Target?.Channel.Id,
            ChannelKeyId = exchange.Target?.KeyId,
            Model = exchange.Model,
            Endpoint = exchange.Endpoint,
            IsStream = exchange.Facts.Stream,
            Status = exchange.Status == 0 ? exchange.Context.Response.StatusCode : exchange.Status,
            Outcome = exchange.Outcome,
            ErrorCode = exchange.ErrorCode,
            InputTokens = usage.InputTokens,
            CachedInputTokens = usage.CachedInputTokens,
            OutputTokens = usage.OutputTokens,
            ReasoningTokens = usage.ReasoningTokens,
            IsEstimated = exchange.UsageEstimated,
            CostMicros = exchange.CostMicros,
            InputMicrosPerMillion = price?.InputMicrosPerMillion ?? 0,
            CachedInputMicrosPerMillion = price?.CachedInputMicrosPerMillion ?? 0,
            OutputMicrosPerMillion = price?.OutputMicrosPerMillion ?? 0,
            LatencyMs = exchange.ElapsedMs,
            FirstTokenMs = exchange.FirstByteTimestamp is { } first
                ? (int)System.Diagnostics.Stopwatch.GetElapsedTime(exchange.StartTimestamp, first).TotalMilliseconds
                : null,
            Attempts = exchange.Attempts.Length == 0 ? null : exchange.Attempts.ToString(),
            Note = exchange.Notes.Count == 0 ? null : string.Join(' ', exchange.Notes),
        };
        await usageWriter.EnqueueAsync(new Settlement(record, exchange.ReservedMicros, exchange.HasReservation));
        metrics.RequestFinished(new RequestMetrics(
            ApiName(exchange.Api),
            exchange.Target?.Channel.Name,
            exchange.Price is null ? null : exchange.Model,
            exchange.Outcome,
            TokenPoolMetrics.ErrorLabel(exchange.ErrorCode),
            exchange.ElapsedMs / 1000.0,
            record.FirstTokenMs / 1000.0,
            usage.InputTokens,
            usage.CachedInputTokens,
            usage.OutputTokens,
            usage.ReasoningTokens,
            exchange.CostMicros));
        TokenPoolTracing.SetOutcome(activity, record.Status, exchange.Outcome, exchange.ErrorCode is null ? null : TokenPoolMetrics.ErrorLabel(exchange.ErrorCode),
            usage.InputTokens, usage.OutputTokens, exchange.UsageEstimated, exchange.Price is null ? null : exchange.Model);
        LogRequest(logger, exchange.RequestId, exchange.Key.KeyId, exchange.Model, record.Status, exchange.Outcome,
            usage.InputTokens, usage.OutputTokens, exchange.UsageEstimated, record.LatencyMs);
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

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information,
        Message = "Request {RequestId} key {KeyId} model {Model}: {Status} {Outcome}, {InputTokens} in, {OutputTokens} out (estimated: {Estimated}), {LatencyMs} ms")]
    private static partial void LogRequest(ILogger logger, string requestId, long keyId, string model, int status, string outcome,
        long inputTokens, long outputTokens, bool estimated, int latencyMs);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "Request {RequestId} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, string requestId, Exception exception);
}
