using System.Buffers;
using System.Diagnostics;
using TokenPool.Gateway.Streaming;
using TokenPool.Gateway.Translation;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// Copies a successful upstream stream to the client:
/// <list type="number">
/// <item>read the first bytes before committing anything, so an upstream that fails now can still be replaced;</item>
/// <item>commit the client's response, then copy chunk by chunk as bytes arrive, waiting for the next with a
/// zero-byte read that holds no buffer (an idle stream costs almost nothing);</item>
/// <item>pass-through: write each chunk first, then let the upstream's meter read it; the meter filters only when
/// it must: a usage chunk the client did not ask for is left out, and an upstream error event is rewritten with its
/// credentials taken out (the copier switches to filtering at the first chunk that may hold one);</item>
/// <item>bridged: the upstream's meter reads (and scrubs) the upstream's events, and the bridge's translator turns
/// them into the client's API; money always comes from the upstream's own events;</item>
/// <item>at the end: the upstream's own ending, or, when it went silent, was cut, ran out of time or was stopped,
/// the client API's terminal error event (through the translator when bridged), so no client is left waiting.</item>
/// </list>
/// </summary>
internal sealed class StreamCopier
{
    private const int ReadBufferSize = 16 * 1024;

    public async Task<AttemptResult> CopyAsync(RelayRequest relay, UpstreamAnswer answer)
    {
        var client = relay.Client;
        var route = answer.Route;
        var target = answer.Target;
        var channel = target.Channel;
        var deadline = answer.Deadline;
        var usageInjected = !route.Bridged && route.Upstream.StreamUsageMustBeAsked && !relay.Admission.Facts.IncludeUsage;
        var meter = route.Upstream.StartMeter(target.Secret, dropUsageOnlyChunks: usageInjected);
        var keepMeter = false;
        IStreamTranslator? translator = null;
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        try
        {
            Stream upstream;
            int read;
            try
            {
                upstream = await answer.OpenAsync();
                deadline.Enter(DeadlinePhase.Idle, channel.StreamIdleTimeout);
                read = await upstream.ReadAsync(buffer, deadline.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or InvalidDataException)
            {
                if (client.Aborted.IsCancellationRequested)
                {
                    return AttemptResult.Finished(RequestOutcome.ClientClosed) with { Accepted = true };
                }

                if (deadline.Stopped)
                {
                    return await UpstreamAttempt.StoppedAsync(relay, accepted: true);
                }

                target.Health.RecordFailure("stream failed before its first byte", Environment.TickCount64);
                return AttemptResult.Retry(deadline.Expired(DeadlinePhase.Total)
                    ? GatewayErrors.UpstreamTimeout(relay.Model, channel.TotalTimeout)
                    : GatewayErrors.StreamCut());
            }

            if (read == 0)
            {
                target.Health.RecordFailure("stream closed before its first byte", Environment.TickCount64);
                return AttemptResult.Retry(GatewayErrors.StreamCut());
            }

            // Committed: from here the answer is this upstream's, whatever happens.
            keepMeter = true;
            translator = route.Bridge?.StartStream(answer.BridgeOptions!);
            client.Start(answer.Response, route.Bridged ? "text/event-stream; charset=utf-8" : UpstreamAttempt.ContentType(answer.Response)!, isEventStream: true, channel.IsBuiltInSimulator);
            var filtering = route.Bridged || usageInjected;
            ArrayBufferWriter<byte>? filtered = filtering ? new ArrayBufferWriter<byte>(ReadBufferSize) : null;
            ArrayBufferWriter<byte>? translated = translator is null ? null : new ArrayBufferWriter<byte>(ReadBufferSize);
            ApiError? failure = null;
            var clientGone = false;
            try
            {
                while (true)
                {
                    var chunk = buffer.AsMemory(0, read);
                    if (!filtering && meter.MayNeedFilter(chunk.Span))
                    {
                        filtering = true;
                        filtered = new ArrayBufferWriter<byte>(ReadBufferSize);
                    }

                    if (!filtering)
                    {
                        clientGone = !await client.WriteAsync(chunk);
                        meter.Observe(chunk.Span);
                    }
                    else
                    {
                        meter.Filter(chunk.Span, filtered!);
                        clientGone = !await WriteAsync(client, translator, filtered!, translated);
                    }

                    if (clientGone)
                    {
                        break;
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
            catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or ObjectDisposedException or InvalidDataException)
            {
                clientGone = client.Aborted.IsCancellationRequested;
                if (!clientGone)
                {
                    failure = deadline.Stopped ? GatewayErrors.Stopped(relay.Stop!.Reason)
                        : deadline.Expired(DeadlinePhase.Total) ? GatewayErrors.StreamTotalTimeout(channel.TotalTimeout)
                        : deadline.Expired(DeadlinePhase.Idle) ? GatewayErrors.StreamIdle(channel.StreamIdleTimeout)
                        : GatewayErrors.StreamCut();
                }
            }

            var ttfb = (long)Stopwatch.GetElapsedTime(answer.Started, client.FirstByteTimestamp ?? Stopwatch.GetTimestamp()).TotalMilliseconds;
            if (clientGone)
            {
                target.Health.RecordSuccess(ttfb);
                return Finished(RequestOutcome.ClientClosed, meter);
            }

            if (meter.Ended && failure is null)
            {
                target.Health.RecordSuccess(ttfb);
                if (translator is not null)
                {
                    translated!.ResetWrittenCount();
                    translator.Complete(translated, null);
                    await client.WriteOwnAsync(translated!.WrittenMemory);
                }

                var outcome = meter.End switch
                {
                    StreamEnd.Completed or StreamEnd.Done => meter.ErrorCode is null ? RequestOutcome.Completed : RequestOutcome.Failed,
                    StreamEnd.Incomplete => RequestOutcome.Incomplete,
                    _ => RequestOutcome.Failed,
                };
                return Finished(outcome, meter) with { ErrorCode = SecretScrubber.SafeCode(meter.ErrorCode) };
            }

            // The stream stopped before its end: end the client's stream properly.
            failure ??= GatewayErrors.StreamCut();
            var outcomeOnFailure = deadline.Stopped
                ? relay.Stop!.Reason == StopReason.Draining ? RequestOutcome.Drained : RequestOutcome.KeyRevoked
                : deadline.Expired(DeadlinePhase.Idle) || deadline.Expired(DeadlinePhase.Total) ? RequestOutcome.UpstreamIdle : RequestOutcome.UpstreamCut;
            if (!deadline.Stopped)
            {
                target.Health.RecordFailure(outcomeOnFailure == RequestOutcome.UpstreamIdle ? "stream went silent" : "stream cut before its end", Environment.TickCount64);
            }

            if (translator is not null)
            {
                translated!.ResetWrittenCount();
                translator.Complete(translated, failure);
                await client.WriteOwnAsync(translated.WrittenMemory);
            }
            else
            {
                await client.FailAsync(failure, meter, relay.Model);
            }

            return Finished(outcomeOnFailure, meter) with { ErrorCode = failure.Code };
        }
        finally
        {
            if (buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            translator?.Dispose();
            if (!keepMeter)
            {
                meter.Dispose();
            }
        }
    }

    private static AttemptResult Finished(RequestOutcome outcome, Streaming.SseMeter meter) =>
        AttemptResult.Finished(outcome) with { Accepted = true, Meter = meter, ResponseId = meter.ResponseId };

    /// <summary>Writes what filtering (and, when bridged, translating) made of a chunk; false when the client has gone.</summary>
    private static async ValueTask<bool> WriteAsync(ClientResponse client, IStreamTranslator? translator, ArrayBufferWriter<byte> filtered, ArrayBufferWriter<byte>? translated)
    {
        if (filtered.WrittenCount == 0)
        {
            return true;
        }

        ReadOnlyMemory<byte> output;
        if (translator is null)
        {
            output = filtered.WrittenMemory;
        }
        else
        {
            translated!.ResetWrittenCount();
            translator.Write(filtered.WrittenSpan, translated);
            output = translated.WrittenMemory;
        }

        var written = output.IsEmpty || await client.WriteAsync(output);
        filtered.ResetWrittenCount();
        return written;
    }
}
