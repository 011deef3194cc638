using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using TokenPool.Gateway.Translation;
using TokenPool.Upstreams;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// One attempt at one upstream target:
/// <list type="number">
/// <item>write the body for the upstream: the client's bytes with what TokenPool decides rewritten (model name,
/// output limit, usage request, reasoning items), or the bridge's translation when the channel speaks another API;</item>
/// <item>send it to the channel's path for the upstream's API with the client's headers that may go
/// (<see cref="RequestHeaderPolicy"/>) and the channel's credentials as that API wants them;</item>
/// <item>while a stream waits for the upstream's headers, keep the client's stream alive with its API's keep-alive event;</item>
/// <item>a success is delivered by the <see cref="StreamCopier"/> or the <see cref="BufferedCopy"/> (a compressed
/// answer decoded first); an error status is classified once (<see cref="UpstreamFaults"/>) into "try another
/// target" or "answer the client", with the upstream's message stripped of credentials.</item>
/// </list>
/// </summary>
internal sealed partial class UpstreamAttempt(
    UpstreamPool pool,
    StreamCopier streams,
    BufferedCopy buffered,
    ILogger<UpstreamAttempt> logger)
{
    private const int MaxErrorBodyBytes = 64 * 1024;

    public async Task<AttemptResult> RunAsync(RelayRequest relay, AttemptRoute route, bool dropReasoning, long totalDeadline, AttemptLog log)
    {
        var admission = relay.Admission;
        var client = relay.Client;
        var target = route.Target;
        var channel = target.Channel;
        var started = Stopwatch.GetTimestamp();
        using var deadline = new AttemptDeadline(client.Aborted, totalDeadline, relay.Stop);

        // 1. The body the upstream gets.
        var upstreamModel = channel.UpstreamModel(admission.Model);
        var bridgeOptions = route.Bridged ? BridgeOptionsFor(relay, route, upstreamModel) : null;
        ReadOnlyMemory<byte> body;
        if (route.Bridge is { } bridge)
        {
            var translated = bridge.TranslateRequest(admission.Body.Span, bridgeOptions!);
            if (translated.Error is { } refusal || translated.Body is null)
            {
                log.Add(target, "untranslatable");
                return AttemptResult.Refuse(translated.Error ?? GatewayErrors.ApiNotServed(admission.Model, relay.ClientDialect.Api, admission.Route.ServedApis));
            }

            body = translated.Body;
            bridgeOptions = bridgeOptions! with { Context = translated.Context };
        }
        else
        {
            var plan = new RewritePlan(
                upstreamModel,
                admission.OutputLimit,
                route.Upstream.OutputLimitField(channel.Wire),
                route.Upstream.StreamUsageMustBeAsked && admission.Facts.Stream,
                dropReasoning);
            body = RequestRewriter.Rewrite(admission.Body.Span, admission.Facts, plan) ?? admission.Body.Memory;
        }

        if (dropReasoning)
        {
            log.Note($"Reasoning items from an earlier upstream account were left out when the session moved to key {target.KeyId}.");
        }

        // 2. The request.
        var content = new UpstreamContent(body);
        using var request = new HttpRequestMessage(HttpMethod.Post, channel.UriFor(route.Upstream))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrHigher,
            Content = content,
        };
        RequestHeaderPolicy.Copy(client.Context.Request.Headers, request.Headers, route.Bridged);
        route.Upstream.Authenticate(request.Headers, target);

        // 3. Send, and wait for the headers (keeping a stream alive meanwhile).
        HttpResponseMessage response;
        deadline.Enter(DeadlinePhase.Headers, channel.ResponseHeadersTimeout);
        try
        {
            var sending = channel.Invoker.SendAsync(request, deadline.Token);
            response = admission.Facts.Stream && !relay.ClientDialect.KeepAlive.IsEmpty
                ? await WaitWithKeepAliveAsync(relay, sending, channel.IsBuiltInSimulator)
                : await sending;
        }
        catch (OperationCanceledException) when (client.Aborted.IsCancellationRequested)
        {
            log.Add(target, "client_closed");
            return AttemptResult.Finished(RequestOutcome.ClientClosed) with { Accepted = content.Sent };
        }
        catch (OperationCanceledException) when (deadline.Stopped)
        {
            log.Add(target, "stopped");
            return await StoppedAsync(relay, content.Sent);
        }
        catch (OperationCanceledException) when (deadline.Expired(DeadlinePhase.Total))
        {
            log.Add(target, "total_timeout");
            return AttemptResult.Refuse(GatewayErrors.UpstreamTimeout(admission.Model, channel.TotalTimeout));
        }
        catch (OperationCanceledException)
        {
            log.Add(target, "headers_timeout");
            target.Health.RecordFailure("timeout waiting for response headers", Environment.TickCount64);
            return AttemptResult.Retry(GatewayErrors.UpstreamTimeout(admission.Model, channel.ResponseHeadersTimeout));
        }
        catch (HttpRequestException ex)
        {
            var what = ex.HttpRequestError.ToString();
            log.Add(target, what);
            target.Health.RecordFailure($"request failed: {what}", Environment.TickCount64);
            LogAttemptFailed(logger, relay.RequestId, channel.Name, target.KeyId, what);
            return AttemptResult.Retry(GatewayErrors.UpstreamUnreachable(admission.Model));
        }

        // Headers are in: from here only the total time limits the attempt, until reading the answer starts.
        deadline.HeadersArrived();
        using (response)
        {
            var status = (int)response.StatusCode;
            log.Add(target, status.ToString(CultureInfo.InvariantCulture));
            if (status is < 200 or >= 300)
            {
                return await ClassifyAsync(relay, route, response, status, dropReasoning, deadline.Token);
            }

            // 4. Deliver the answer, decoded if the upstream compressed it although asked not to.
            var answer = new UpstreamAnswer(response, route, deadline, started, bridgeOptions);
            var encoding = response.Content.Headers.ContentEncoding.LastOrDefault();
            if (encoding is not null && !string.Equals(encoding, "identity", StringComparison.OrdinalIgnoreCase))
            {
                if (Decoder(encoding) is null)
                {
                    target.Health.RecordFailure(new UpstreamError(status, null, $"answer compressed with {UpstreamError.SafeCode(encoding) ?? "an unknown encoding"}"), Environment.TickCount64);
                    return AttemptResult.Retry(GatewayErrors.UpstreamEncoding(encoding));
                }

                answer = answer with { Encoding = encoding };
            }

            return IsEventStream(ContentType(response))
                ? await streams.CopyAsync(relay, answer)
                : await buffered.CopyAsync(relay, answer);
        }
    }

    /// <summary>A reader that decodes an answer sent with this <c>Content-Encoding</c>, or null when TokenPool cannot decode it.</summary>
    internal static Func<Stream, Stream>? Decoder(string encoding) => encoding.ToLowerInvariant() switch
    {
        "gzip" or "x-gzip" => static s => new GZipStream(s, CompressionMode.Decompress),
        "deflate" => static s => new ZLibStream(s, CompressionMode.Decompress),
        "br" => static s => new BrotliStream(s, CompressionMode.Decompress),
        _ => null,
    };

    /// <summary>The upstream's Content-Type as it sent it.</summary>
    internal static string? ContentType(HttpResponseMessage upstream) =>
        upstream.Content.Headers.NonValidated.TryGetValues("Content-Type", out var values) && values.Count > 0 ? values.ToString() : null;

    /// <summary>Whether a Content-Type names a server-sent event stream (<c>text/event-stream</c>, any parameters).</summary>
    internal static bool IsEventStream(string? contentType)
    {
        var mediaType = contentType.AsSpan();
        var end = mediaType.IndexOf(';');
        return (end < 0 ? mediaType : mediaType[..end]).Trim().Equals("text/event-stream", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The request was stopped from outside while it waited for the upstream: the client is told why.</summary>
    internal static async Task<AttemptResult> StoppedAsync(RelayRequest relay, bool accepted)
    {
        var reason = relay.Stop?.Reason ?? StopReason.Draining;
        var error = GatewayErrors.Stopped(reason);
        await relay.Client.FailAsync(error, null, relay.Model);
        return AttemptResult.Finished(reason == StopReason.Draining ? RequestOutcome.Drained : RequestOutcome.KeyRevoked) with
        {
            Accepted = accepted,
            ErrorCode = error.Code,
        };
    }

    /// <summary>Decides what an upstream error status means: try another target, or hand the error to the client.</summary>
    private async Task<AttemptResult> ClassifyAsync(RelayRequest relay, AttemptRoute route, HttpResponseMessage response, int status, bool droppedReasoning, CancellationToken cancellationToken)
    {
        var target = route.Target;
        var model = relay.Model;
        var error = route.Upstream.ReadError(await ReadErrorBodyAsync(response, cancellationToken));
        var fault = UpstreamFaults.Classify(status, error.Code, error.IsJson);
        var retryAfter = fault is UpstreamFault.RateLimited or UpstreamFault.Unavailable ? UpstreamFaults.RetryAfter(response, error.Message) : null;
        await UpstreamFaults.ApplyAsync(fault, status, error.Code, retryAfter, target, pool);
        var upstreamError = GatewayErrors.FromUpstream(status, error, target.Secret);
        return fault switch
        {
            UpstreamFault.RequestRefused => AttemptResult.Refuse(upstreamError),
            UpstreamFault.ForeignReasoning when !droppedReasoning => AttemptResult.RetryWithoutReasoning,
            UpstreamFault.ForeignReasoning => AttemptResult.Refuse(upstreamError),
            UpstreamFault.RateLimited => AttemptResult.Retry(
                GatewayErrors.UpstreamRateLimited(model, retryAfter ?? TimeSpan.FromSeconds(pool.Options.DefaultCooldownSeconds)), retryAfter),
            UpstreamFault.OutOfCredit or UpstreamFault.KeyRejected or UpstreamFault.PaymentRequired => AttemptResult.Retry(GatewayErrors.UpstreamRejectedCredentials(model)),
            UpstreamFault.Forbidden => AttemptResult.Retry(GatewayErrors.UpstreamForbidden(model)),
            UpstreamFault.NotAnApiError => AttemptResult.Retry(GatewayErrors.UpstreamBadResponse(502)),
            _ => AttemptResult.Retry(error.IsJson ? upstreamError : GatewayErrors.UpstreamBadResponse(status)),
        };
    }

    /// <summary>Waits for the upstream's headers, keeping the client's stream alive with its API's keep-alive event meanwhile.</summary>
    private async Task<HttpResponseMessage> WaitWithKeepAliveAsync(RelayRequest relay, Task<HttpResponseMessage> sending, bool simulated)
    {
        var interval = TimeSpan.FromSeconds(pool.Options.KeepAliveSeconds);
        var client = relay.Client;
        while (true)
        {
            try
            {
                return await sending.WaitAsync(interval);
            }
            catch (TimeoutException)
            {
                client.StartStream(simulated);
                await client.WriteOwnAsync(relay.ClientDialect.KeepAlive);
            }
        }
    }

    private static BridgeOptions BridgeOptionsFor(RelayRequest relay, AttemptRoute route, string upstreamModel) => new()
    {
        ClientModel = relay.Model,
        UpstreamModel = upstreamModel,
        Stream = relay.Admission.Facts.Stream,
        OutputLimit = relay.Admission.OutputLimit,
        OutputLimitField = route.Upstream.OutputLimitField(route.Target.Channel.Wire),
        ClientWantsUsage = relay.Admission.Facts.IncludeUsage,
        ResponseId = relay.ClientDialect.AnswerId(relay.RequestId),
        CreatedAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
    };

    private static async Task<byte[]> ReadErrorBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
            if (response.Content.Headers.ContentEncoding.LastOrDefault() is { } encoding && Decoder(encoding) is { } decode)
            {
                stream = decode(stream);
            }

            await using (stream)
            {
                var buffer = new byte[MaxErrorBodyBytes];
                var length = 0;
                int read;
                while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), timeout.Token)) > 0)
                {
                    length += read;
                }

                return length == buffer.Length ? [] : buffer[..length];
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or InvalidDataException)
        {
            return [];
        }
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "Request {RequestId}: upstream {Channel} key {KeyId} failed ({Error}); trying another")]
    private static partial void LogAttemptFailed(ILogger logger, string requestId, string channel, long keyId, string error);
}

/// <summary>A successful upstream answer, handed to the copier that delivers it.</summary>
internal sealed record UpstreamAnswer(HttpResponseMessage Response, AttemptRoute Route, AttemptDeadline Deadline, long Started, BridgeOptions? BridgeOptions)
{
    /// <summary>The <c>Content-Encoding</c> to decode, when the upstream compressed the answer.</summary>
    public string? Encoding { get; init; }

    public UpstreamTarget Target => Route.Target;

    /// <summary>The answer's bytes as the upstream meant them (decoded when it compressed them).</summary>
    public async Task<Stream> OpenAsync()
    {
        var stream = await Response.Content.ReadAsStreamAsync(Deadline.Token);
        return Encoding is not null && UpstreamAttempt.Decoder(Encoding) is { } decode ? decode(stream) : stream;
    }
}

/// <summary>The attempts of one request and the notes for its usage record.</summary>
internal sealed class AttemptLog
{
    private readonly System.Text.StringBuilder _attempts = new();
    private List<string>? _notes;

    public UpstreamTarget? Last { get; private set; }

    public IReadOnlyList<string> Notes => _notes ?? [];

    public void Add(UpstreamTarget target, string result)
    {
        Last = target;
        if (_attempts.Length > 0)
        {
            _attempts.Append(' ');
        }

        _attempts.Append(target.Channel.Id).Append(':').Append(target.KeyId).Append(':').Append(result);
    }

    public void Note(string note) => (_notes ??= []).Add(note);

    public override string ToString() => _attempts.ToString();
}
