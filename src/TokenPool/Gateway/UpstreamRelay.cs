using System.Buffers;
using System.Collections.Frozen;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using TokenPool.Billing;
using TokenPool.Gateway.Streaming;
using TokenPool.Operations;
using TokenPool.Upstreams;

namespace TokenPool.Gateway;

/// <summary>
/// Sends an admitted request upstream and relays the answer:
/// <list type="number">
/// <item>pick a target (the session's own first, then by priority and weight), send with the channel's key;</item>
/// <item>while a Responses stream waits for its first byte, send typed keep-alive events;</item>
/// <item>on a connect error, header timeout, 429, 5xx or rejected upstream key, try the next target,
///   as long as no upstream byte has reached the client;</item>
/// <item>on success, stream the bytes through as they come (noting usage on the way), or, for a
///   non-streamed answer, read it whole so its cost can go in a response header;</item>
/// <item>if the upstream fails mid-stream, end the stream with the API's terminal error event.</item>
/// </list>
/// </summary>
internal sealed partial class UpstreamRelay(
    UpstreamPool pool,
    SessionAffinity affinity,
    UsageResolver usageResolver,
    IOptions<GatewayOptions> gatewayOptions,
    ILogger<UpstreamRelay> logger)
{
    private const int ReadBufferSize = 16 * 1024;
    private const int MaxErrorBodyBytes = 64 * 1024;

    private static readonly FrozenSet<string> RequestHeadersNotForwarded = new[]
    {
        "Host", "Authorization", "Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Authenticate", "Proxy-Connection",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Content-Type", "Content-Encoding", "Accept-Encoding",
        "Cookie", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP", "Expect",
        "OpenAI-Organization", "OpenAI-Project", "api-key", "x-api-key",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private static readonly FrozenSet<string> ResponseHeadersForwarded = new[]
    {
        "x-request-id", "openai-processing-ms", "openai-version", "x-codex-turn-state", "x-models-etag",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    private readonly GatewayOptions _gateway = gatewayOptions.Value;

    public async Task RelayAsync(Exchange exchange)
    {
        var options = pool.Options;
        var pinnedKey = affinity.Find(exchange.Session);
        var preferred = pinnedKey is { } id ? exchange.Route.All.FirstOrDefault(t => t.KeyId == id) : null;
        var plan = new RoutePlan(exchange.Route, exchange.Api, preferred);
        var hasReasoning = exchange.Api == ClientApiKind.Responses && RequestInspector.HasReasoningItems(exchange.Body.Span);

        var relayStarted = Stopwatch.GetTimestamp();
        AttemptResult? last = null;
        while (plan.Attempts < options.MaxAttempts && plan.Next(Environment.TickCount64) is { } target)
        {
            // The request may take as long as the channel now serving it allows, counted from its start.
            var totalDeadline = relayStarted + (long)(target.Channel.TotalTimeout.TotalSeconds * Stopwatch.Frequency);

            // Encrypted reasoning can be read only by the upstream account that wrote it: when the session
            // moves to another key, leave those items out rather than fail the request.
            var dropReasoning = hasReasoning && pinnedKey is not null && pinnedKey != target.KeyId;
            var attempt = TokenPoolTracing.StartAttempt(target.Channel.Name, target.KeyId, exchange.Api == ClientApiKind.Responses ? "responses" : "chat",
                target.Channel.UpstreamModel(exchange.Model), target.Channel.BaseUri.Host);
            var result = await AttemptAsync(exchange, target, dropReasoning, totalDeadline);
            if (result.Kind == AttemptKind.RetryWithoutReasoning)
            {
                result = await AttemptAsync(exchange, target, dropReasoning: true, totalDeadline);
            }

            TokenPoolTracing.EndAttempt(attempt, result.Kind == AttemptKind.Finished ? exchange.Status : result.Error?.Status ?? 0, result.Kind.ToString(),
                failed: result.Kind != AttemptKind.Finished);

            if (result.Kind == AttemptKind.Finished)
            {
                if (exchange.Outcome is "completed" or "incomplete")
                {
                    affinity.Pin(exchange.Session, target.KeyId);
                    if (exchange.Api == ClientApiKind.Responses && !exchange.Facts.StoreDisabled)
                    {
                        // Only a stored response can be named by a later previous_response_id; Codex never stores.
                        affinity.RememberResponse(exchange.Key.AccountId, exchange.Meter?.ResponseId ?? exchange.ResponseId, target.KeyId);
                    }
                }

                return;
            }

            last = result;
            if (result.Kind == AttemptKind.Stop)
            {
                break;
            }
        }

        await FailAsync(exchange, plan, last);
    }

    private async Task<AttemptResult> AttemptAsync(Exchange exchange, UpstreamTarget target, bool dropReasoning, long totalDeadline)
    {
        using var deadline = new AttemptDeadline(exchange.Context.RequestAborted, totalDeadline);
        exchange.Target = target;
        var context = exchange.Context;
        var channel = target.Channel;
        var started = Stopwatch.GetTimestamp();
        var upstreamModel = channel.UpstreamModel(exchange.Model);
        var rewritten = RequestInspector.Rewrite(exchange.Body.Span, exchange.Facts, upstreamModel, exchange.UsageInjected, dropReasoning);
        if (dropReasoning)
        {
            exchange.Notes.Add($"Reasoning items from an earlier upstream account were left out when the session moved to key {target.KeyId}.");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, exchange.Api == ClientApiKind.Responses ? channel.ResponsesUri : channel.ChatCompletionsUri)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrHigher,
            Content = new ReadOnlyMemoryContent(rewritten ?? exchange.Body.Memory),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        foreach (var (name, values) in context.Request.Headers)
        {
            if (!RequestHeadersNotForwarded.Contains(name))
            {
                if (values.Count == 1)
                {
                    request.Headers.TryAddWithoutValidation(name, values[0]);
                }
                else
                {
                    request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
                }
            }
        }

        request.Headers.TryAddWithoutValidation("Authorization", target.Authorization);
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "identity");

        HttpResponseMessage response;
        deadline.Enter(DeadlinePhase.Headers, channel.ResponseHeadersTimeout);
        try
        {
            var sending = channel.Invoker.SendAsync(request, deadline.Token);
            response = exchange.Api == ClientApiKind.Responses && exchange.Facts.Stream
                ? await WaitWithKeepAliveAsync(exchange, sending)
                : await sending;
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            exchange.RecordAttempt(target, "client_closed");
            exchange.Outcome = "client_closed";
            return AttemptResult.Finished;
        }
        catch (OperationCanceledException) when (deadline.Expired(DeadlinePhase.Total))
        {
            exchange.RecordAttempt(target, "total_timeout");
            return AttemptResult.Stop(GatewayErrors.UpstreamTimeout(exchange.Model, channel.TotalTimeout));
        }
        catch (OperationCanceledException)
        {
            exchange.RecordAttempt(target, "headers_timeout");
            target.Health.RecordFailure("timeout waiting for response headers", Environment.TickCount64);
            return AttemptResult.Retry(GatewayErrors.UpstreamTimeout(exchange.Model, channel.ResponseHeadersTimeout));
        }
        catch (HttpRequestException ex)
        {
            var what = ex.HttpRequestError.ToString();
            exchange.RecordAttempt(target, what);
            target.Health.RecordFailure($"request failed: {what}", Environment.TickCount64);
            LogAttemptFailed(logger, exchange.RequestId, channel.Name, target.KeyId, what);
            return AttemptResult.Retry(GatewayErrors.UpstreamUnreachable(exchange.Model));
        }

        // Headers are in: from here only the total time limits the attempt, until reading the answer starts.
        deadline.HeadersArrived();

        using (response)
        {
            var status = (int)response.StatusCode;
            if (status is >= 200 and < 300)
            {
                exchange.RecordAttempt(target, status.ToString(CultureInfo.InvariantCulture));
                return await DeliverAsync(exchange, target, response, deadline, started);
            }

            var errorBody = await ReadErrorBodyAsync(response, deadline.Token);
            exchange.RecordAttempt(target, status.ToString(CultureInfo.InvariantCulture));
            return await ClassifyErrorAsync(exchange, target, response, status, errorBody, dropReasoning);
        }
    }

    /// <summary>Decides what an upstream error status means: try another target, or hand the error to the client.</summary>
    private async Task<AttemptResult> ClassifyErrorAsync(Exchange exchange, UpstreamTarget target, HttpResponseMessage response, int status, byte[] body, bool droppedReasoning)
    {
        var now = Environment.TickCount64;
        var (code, message) = UsageReader.ReadError(body, insideResponse: false);
        var isJsonError = code is not null || message is not null;
        switch (status)
        {
            case 429 when code == "insufficient_quota":
                await pool.DisableKeyAsync(target, "The upstream says this key's account is out of credit (429 insufficient_quota).", new UpstreamError(429, code, "out of credit"));
                return AttemptResult.Retry(GatewayErrors.UpstreamRejectedCredentials(exchange.Model));
            case 429:
            {
                var wait = RetryAfter(response, message) ?? TimeSpan.FromSeconds(pool.Options.DefaultCooldownSeconds);
                target.Health.CoolDown(wait, new UpstreamError(429, code, $"rate limited, resting {wait.TotalSeconds:0.#}s"), now);
                return AttemptResult.Retry(GatewayErrors.UpstreamRateLimited(exchange.Model, wait), wait);
            }

            case 401:
                await pool.DisableKeyAsync(target, $"The upstream rejected this key (401{(UpstreamError.SafeCode(code) is { } safe ? " " + safe : "")}).", new UpstreamError(401, code, "key rejected"));
                return AttemptResult.Retry(GatewayErrors.UpstreamRejectedCredentials(exchange.Model));
            case 402:
                await pool.DisableKeyAsync(target, "The upstream requires payment for this key (402).", new UpstreamError(402, code, "payment required"));
                return AttemptResult.Retry(GatewayErrors.UpstreamRejectedCredentials(exchange.Model));
            case 403 or 408 or 500 or 502 or 504:
                target.Health.RecordFailure(new UpstreamError(status, code, ReasonPhrases.GetReasonPhrase(status)), now);
                return AttemptResult.Retry(PassThrough(status, body, isJsonError));
            case 503:
                if (RetryAfter(response, message) is { } rest)
                {
                    target.Health.CoolDown(rest, new UpstreamError(503, code, $"unavailable, resting {rest.TotalSeconds:0.#}s"), now);
                }
                else
                {
                    target.Health.RecordFailure(new UpstreamError(503, code, ReasonPhrases.GetReasonPhrase(503)), now);
                }

                return AttemptResult.Retry(PassThrough(status, body, isJsonError));
            case 400 when code == "invalid_encrypted_content" && !droppedReasoning:
                return AttemptResult.RetryWithoutReasoning;
            case >= 500:
                target.Health.RecordFailure(new UpstreamError(status, code, ReasonPhrases.GetReasonPhrase(status)), now);
                return AttemptResult.Retry(PassThrough(status, body, isJsonError));
            default:
                if (!isJsonError)
                {
                    // A real OpenAI-compatible server answers errors in JSON; this is a misconfigured channel.
                    target.Health.RecordFailure(new UpstreamError(status, null, "not an OpenAI-style JSON error"), now);
                    return AttemptResult.Retry(GatewayErrors.UpstreamBadResponse(502));
                }

                // The request itself was refused (400, 404, 413, 422...): the same answer would come from any upstream.
                return AttemptResult.Stop(PassThrough(status, body, isJsonError: true));
        }
    }

    private async Task<AttemptResult> DeliverAsync(Exchange exchange, UpstreamTarget target, HttpResponseMessage response, AttemptDeadline deadline, long started)
    {
        return IsEventStream(ContentType(response))
            ? await StreamAsync(exchange, target, response, deadline, started)
            : await BufferAsync(exchange, target, response, deadline, started);
    }

    private async Task<AttemptResult> StreamAsync(Exchange exchange, UpstreamTarget target, HttpResponseMessage response, AttemptDeadline deadline, long started)
    {
        var context = exchange.Context;
        var channel = target.Channel;
        var meter = new SseMeter(exchange.Api, exchange.UsageInjected);
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        ArrayBufferWriter<byte>? filtered = exchange.UsageInjected ? new ArrayBufferWriter<byte>(ReadBufferSize) : null;
        ApiError? streamError = null;
        try
        {
            var upstream = await response.Content.ReadAsStreamAsync(deadline.Token);

            // Read the first bytes before committing: an upstream that fails now can still be replaced.
            int read;
            try
            {
                deadline.Enter(DeadlinePhase.Idle, channel.StreamIdleTimeout);
                read = await upstream.ReadAsync(buffer, deadline.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
            {
                meter.Dispose();
                if (context.RequestAborted.IsCancellationRequested)
                {
                    exchange.Outcome = "client_closed";
                    return AttemptResult.Finished;
                }

                target.Health.RecordFailure("stream failed before its first byte", Environment.TickCount64);
                return AttemptResult.Retry(deadline.Expired(DeadlinePhase.Total)
                    ? GatewayErrors.UpstreamTimeout(exchange.Model, channel.TotalTimeout)
                    : GatewayErrors.StreamCut());
            }

            if (read == 0)
            {
                meter.Dispose();
                target.Health.RecordFailure("stream closed before its first byte", Environment.TickCount64);
                return AttemptResult.Retry(GatewayErrors.StreamCut());
            }

            exchange.Meter = meter;
            exchange.UpstreamAccepted = true;
            StartResponse(exchange, response);
            exchange.FirstByteTimestamp = Stopwatch.GetTimestamp();
            exchange.Delivered = true;
            var body = context.Response.Body;
            try
            {
                while (true)
                {
                    if (filtered is null)
                    {
                        await body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
                        meter.Observe(buffer.AsSpan(0, read));
                    }
                    else
                    {
                        meter.Filter(buffer.AsSpan(0, read), filtered);
                        if (filtered.WrittenCount > 0)
                        {
                            await body.WriteAsync(filtered.WrittenMemory, context.RequestAborted);
                            filtered.ResetWrittenCount();
                        }
                    }

                    // Wait for data without holding a buffer, so an idle stream costs almost no memory.
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = [];
                    deadline.Enter(DeadlinePhase.Idle, channel.StreamIdleTimeout);
                    _ = await upstream.ReadAsync(Memory<byte>.Empty, deadline.Token);
                    buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
                    read = await upstream.ReadAsync(buffer, deadline.Token);
                    if (read == 0)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or ObjectDisposedException)
            {
                if (context.RequestAborted.IsCancellationRequested)
                {
                    exchange.Outcome = "client_closed";
                    exchange.Status = 200;
                    target.Health.RecordSuccess(TimeToFirstByteMs(exchange, started));
                    return AttemptResult.Finished;
                }

                streamError = deadline.Expired(DeadlinePhase.Total) ? GatewayErrors.StreamTotalTimeout(channel.TotalTimeout)
                    : deadline.Expired(DeadlinePhase.Idle) ? GatewayErrors.StreamIdle(channel.StreamIdleTimeout)
                    : GatewayErrors.StreamCut();
            }

            exchange.Status = 200;
            var ended = exchange.Api == ClientApiKind.Responses ? meter.End != StreamEnd.None : meter.End == StreamEnd.Done;
            if (ended && streamError is null)
            {
                target.Health.RecordSuccess(TimeToFirstByteMs(exchange, started));
                exchange.Outcome = meter.End switch
                {
                    StreamEnd.Completed or StreamEnd.Done => meter.ErrorCode is null ? "completed" : "failed",
                    StreamEnd.Incomplete => "incomplete",
                    _ => "failed",
                };
                exchange.ErrorCode = meter.ErrorCode;
                return AttemptResult.Finished;
            }

            // The upstream went away mid-stream: end the client's stream properly.
            streamError ??= GatewayErrors.StreamCut();
            target.Health.RecordFailure(streamError.Message, Environment.TickCount64);
            exchange.Outcome = idleOrCut(streamError);
            exchange.ErrorCode = streamError.Code;
            await WriteStreamErrorAsync(exchange, streamError);
            return AttemptResult.Finished;
        }
        finally
        {
            if (buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            if (exchange.Meter != meter)
            {
                meter.Dispose();
            }
        }

        static string idleOrCut(ApiError error) => error.Message.Contains("sent nothing", StringComparison.Ordinal) ? "upstream_idle" : "upstream_cut";
    }

    private async Task<AttemptResult> BufferAsync(Exchange exchange, UpstreamTarget target, HttpResponseMessage response, AttemptDeadline deadline, long started)
    {
        var context = exchange.Context;
        var channel = target.Channel;
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        var length = 0;
        try
        {
            try
            {
                var upstream = await response.Content.ReadAsStreamAsync(deadline.Token);
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= _gateway.MaxResponseBodyBytes)
                        {
                            target.Health.RecordFailure("answer over the size limit", Environment.TickCount64);
                            return AttemptResult.Stop(GatewayErrors.UpstreamBadResponse(502));
                        }

                        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, _gateway.MaxResponseBodyBytes));
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    deadline.Enter(DeadlinePhase.Idle, channel.StreamIdleTimeout);
                    var read = await upstream.ReadAsync(buffer.AsMemory(length), deadline.Token);
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
            {
                if (context.RequestAborted.IsCancellationRequested)
                {
                    exchange.UpstreamAccepted = true;
                    exchange.Outcome = "client_closed";
                    return AttemptResult.Finished;
                }

                target.Health.RecordFailure("answer cut before it was complete", Environment.TickCount64);
                return AttemptResult.Retry(deadline.Expired(DeadlinePhase.Idle)
                    ? GatewayErrors.UpstreamTimeout(exchange.Model, channel.StreamIdleTimeout)
                    : GatewayErrors.StreamCut());
            }

            var content = buffer.AsMemory(0, length);
            exchange.UpstreamAccepted = true;
            if (UsageReader.TryRead(content.Span, insideResponse: false, out var usage))
            {
                exchange.BufferedUsage = usage;
            }

            if (exchange.Api == ClientApiKind.Responses)
            {
                exchange.ResponseId = UsageReader.ReadResponseId(content.Span, insideResponse: false).Id;
            }

            usageResolver.Resolve(exchange);
            StartResponse(exchange, response);
            var headers = context.Response.Headers;
            headers["x-tokenpool-cost-usd"] = Money.Plain(exchange.CostMicros);
            if (exchange.UsageEstimated)
            {
                headers["x-tokenpool-usage-estimated"] = "true";
            }

            context.Response.ContentLength = length;
            exchange.FirstByteTimestamp = Stopwatch.GetTimestamp();
            exchange.Delivered = true;
            exchange.Status = (int)response.StatusCode;
            try
            {
                await context.Response.Body.WriteAsync(content, context.RequestAborted);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
                exchange.Outcome = "client_closed";
                return AttemptResult.Finished;
            }

            target.Health.RecordSuccess(TimeToFirstByteMs(exchange, started));
            exchange.Outcome = "completed";
            return AttemptResult.Finished;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Every attempt failed (or none could be made): tell the client once, clearly.</summary>
    private async Task FailAsync(Exchange exchange, RoutePlan plan, AttemptResult? last)
    {
        if (exchange.Outcome == "client_closed")
        {
            return;
        }

        ApiError error;
        if (last?.Error is { } lastError)
        {
            error = lastError;
        }
        else if (plan.EarliestAvailableAt() is { } availableAt)
        {
            var wait = TimeSpan.FromMilliseconds(Math.Max(1000, availableAt - Environment.TickCount64));
            error = exchange.Route.All.All(t => t.Health.State == BreakerState.Closed && t.Health.DisabledReason is null)
                ? GatewayErrors.UpstreamRateLimited(exchange.Model, wait)
                : GatewayErrors.NoUpstreamAvailable(exchange.Model, wait);
        }
        else
        {
            error = GatewayErrors.NoUpstreamAvailable(exchange.Model, null);
        }

        exchange.Outcome = "upstream_error";
        exchange.ErrorCode = error.Code;
        if (exchange.Committed)
        {
            exchange.Status = 200;
            await WriteStreamErrorAsync(exchange, error);
            return;
        }

        exchange.Status = error.Status;
        foreach (var (name, value) in exchange.LimitHeaders)
        {
            exchange.Context.Response.Headers[name] = value;
        }

        await error.WriteAsync(exchange.Context);
    }

    private async Task WriteStreamErrorAsync(Exchange exchange, ApiError error)
    {
        var bytes = exchange.Api == ClientApiKind.Responses
            ? StreamEvents.ResponseFailed(error, exchange.Meter?.ResponseId, exchange.Meter?.CreatedAt, exchange.Model, exchange.Meter?.Events ?? 0, exchange.RequestId)
            : StreamEvents.ChatError(error);
        try
        {
            await exchange.Context.Response.Body.WriteAsync(bytes, exchange.Context.RequestAborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            exchange.Outcome = "client_closed";
        }
    }

    /// <summary>Waits for the upstream's headers, keeping a Responses stream alive with typed events meanwhile.</summary>
    private async Task<HttpResponseMessage> WaitWithKeepAliveAsync(Exchange exchange, Task<HttpResponseMessage> sending)
    {
        var interval = TimeSpan.FromSeconds(pool.Options.KeepAliveSeconds);
        while (true)
        {
            try
            {
                return await sending.WaitAsync(interval);
            }
            catch (TimeoutException)
            {
                var context = exchange.Context;
                if (!exchange.Committed)
                {
                    context.Response.StatusCode = 200;
                    context.Response.ContentType = "text/event-stream; charset=utf-8";
                    SetStreamingHeaders(exchange);
                    exchange.Committed = true;
                }

                await context.Response.Body.WriteAsync(StreamEvents.ResponsesKeepAlive, context.RequestAborted);
            }
        }
    }

    /// <summary>Sends the status and headers of a successful answer (unless keep-alives already did).</summary>
    private static void StartResponse(Exchange exchange, HttpResponseMessage upstream)
    {
        if (exchange.Committed)
        {
            return;
        }

        var response = exchange.Context.Response;
        response.StatusCode = (int)upstream.StatusCode;

        // Read as sent: enumerating the typed headers would parse and validate every value first.
        foreach (var (name, values) in upstream.Headers.NonValidated)
        {
            if (ResponseHeadersForwarded.Contains(name))
            {
                response.Headers[name] = values.Count == 1 ? values.ToString() : values.ToArray();
            }
        }

        var contentType = ContentType(upstream);
        response.ContentType = contentType ?? "application/json";
        if (IsEventStream(contentType))
        {
            SetStreamingHeaders(exchange);
        }
        else
        {
            AddGatewayHeaders(exchange);
        }

        exchange.Committed = true;
    }

    /// <summary>The upstream's Content-Type as it sent it.</summary>
    private static string? ContentType(HttpResponseMessage upstream) =>
        upstream.Content.Headers.NonValidated.TryGetValues("Content-Type", out var values) && values.Count > 0 ? values.ToString() : null;

    /// <summary>Whether a Content-Type names a server-sent event stream (<c>text/event-stream</c>, any parameters).</summary>
    private static bool IsEventStream(string? contentType)
    {
        var mediaType = contentType.AsSpan();
        var end = mediaType.IndexOf(';');
        return (end < 0 ? mediaType : mediaType[..end]).Trim().Equals("text/event-stream", StringComparison.OrdinalIgnoreCase);
    }

    private static void SetStreamingHeaders(Exchange exchange)
    {
        var context = exchange.Context;
        context.Response.Headers.CacheControl = "no-cache";
        context.Response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        AddGatewayHeaders(exchange);
    }

    private static void AddGatewayHeaders(Exchange exchange)
    {
        var headers = exchange.Context.Response.Headers;
        foreach (var (name, value) in exchange.LimitHeaders)
        {
            headers[name] = value;
        }

        if (exchange.Target?.Channel.IsBuiltInSimulator == true)
        {
            headers["x-tokenpool-upstream"] = "simulated";
        }
    }

    /// <summary>The upstream's own error, passed to the client as it was (wrapped in the envelope if it was not JSON).</summary>
    private static ApiError PassThrough(int status, byte[] body, bool isJsonError)
    {
        if (!isJsonError)
        {
            return GatewayErrors.UpstreamBadResponse(status);
        }

        var (code, message) = UsageReader.ReadError(body, insideResponse: false);
        return ApiError.FromUpstream(status, body, code, message);
    }

    private static async Task<byte[]> ReadErrorBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
            var buffer = new byte[MaxErrorBodyBytes];
            var length = 0;
            int read;
            while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), timeout.Token)) > 0)
            {
                length += read;
            }

            return length == buffer.Length ? [] : buffer[..length];
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException)
        {
            return [];
        }
    }

    /// <summary>How long the upstream asked us to wait: <c>retry-after-ms</c>, <c>Retry-After</c>, or "try again in Ns" in its message.</summary>
    internal static TimeSpan? RetryAfter(HttpResponseMessage response, string? message)
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

    private static long TimeToFirstByteMs(Exchange exchange, long started) =>
        (long)Stopwatch.GetElapsedTime(started, exchange.FirstByteTimestamp is { } first && first > started ? first : Stopwatch.GetTimestamp()).TotalMilliseconds;

    [GeneratedRegex(@"try again in\s*(\d+(?:\.\d+)?)\s*(ms|s|seconds?)", RegexOptions.IgnoreCase)]
    private static partial Regex TryAgainIn();

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Request {RequestId}: upstream {Channel} key {KeyId} failed ({Error}); trying another")]
    private static partial void LogAttemptFailed(ILogger logger, string requestId, string channel, long keyId, string error);
}

internal enum AttemptKind
{
    /// <summary>The client got its answer (or went away); nothing more to do.</summary>
    Finished,

    /// <summary>This target failed in a way another target may not: try the next one.</summary>
    Retry,

    /// <summary>The upstream refused encrypted reasoning it cannot read: resend without those items.</summary>
    RetryWithoutReasoning,

    /// <summary>Another target would give the same answer: give this error to the client.</summary>
    Stop,
}

internal sealed record AttemptResult(AttemptKind Kind, ApiError? Error, TimeSpan? RetryAfter = null)
{
    public static readonly AttemptResult Finished = new(AttemptKind.Finished, null);

    public static readonly AttemptResult RetryWithoutReasoning = new(AttemptKind.RetryWithoutReasoning, null);

    public static AttemptResult Retry(ApiError error, TimeSpan? retryAfter = null) => new(AttemptKind.Retry, error, retryAfter);

    public static AttemptResult Stop(ApiError error) => new(AttemptKind.Stop, error);
}
