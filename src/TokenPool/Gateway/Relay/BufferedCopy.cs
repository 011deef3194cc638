using System.Buffers;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using TokenPool.Billing;
using TokenPool.Gateway.Streaming;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// Delivers a whole (non-streamed) upstream answer:
/// <list type="number">
/// <item>read it whole into a pooled buffer (up to <see cref="GatewayOptions.MaxResponseBodyBytes"/>), each read
/// under the channel's idle limit; a failure before it is complete can still go to another target;</item>
/// <item>read its usage with the upstream's dialect and settle its cost now, counting the output from its text when it
/// reported no usage (marked estimated), so the cost can go in a response header;</item>
/// <item>give the client the answer: the upstream's bytes (an embedded error object rewritten without credentials), or
/// the bridge's translation into the client's API.</item>
/// </list>
/// </summary>
internal sealed class BufferedCopy(UsageResolver usageResolver, IOptions<GatewayOptions> gatewayOptions)
{
    private const int ReadBufferSize = 16 * 1024;

    private readonly GatewayOptions _gateway = gatewayOptions.Value;

    public async Task<AttemptResult> CopyAsync(RelayRequest relay, UpstreamAnswer answer)
    {
        var client = relay.Client;
        var route = answer.Route;
        var target = answer.Target;
        var channel = target.Channel;
        var deadline = answer.Deadline;
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        var length = 0;
        try
        {
            try
            {
                await using var upstream = await answer.OpenAsync();
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= _gateway.MaxResponseBodyBytes)
                        {
                            target.Health.RecordFailure("answer over the size limit", Environment.TickCount64);
                            return AttemptResult.Refuse(GatewayErrors.UpstreamBadResponse(502));
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

                target.Health.RecordFailure("answer cut before it was complete", Environment.TickCount64);
                return AttemptResult.Retry(deadline.Expired(DeadlinePhase.Idle)
                    ? GatewayErrors.UpstreamTimeout(relay.Model, channel.StreamIdleTimeout)
                    : GatewayErrors.StreamCut());
            }

            var content = buffer.AsMemory(0, length);
            var facts = route.Upstream.ReadAnswer(content.Span);
            var usage = usageResolver.FromAnswer(relay.Admission, facts, content, route.Upstream);
            ReadOnlyMemory<byte> body = route.Bridge is { } bridge
                ? bridge.TranslateResponse(content.Span, answer.BridgeOptions!)
                : Scrubbed(content, target.Secret);

            client.Start(answer.Response, route.Bridged ? "application/json" : UpstreamAttempt.ContentType(answer.Response) ?? "application/json", isEventStream: false, channel.IsBuiltInSimulator);
            var headers = client.Context.Response.Headers;
            headers["x-tokenpool-cost-usd"] = Money.Plain(usage.CostMicros);
            if (usage.Estimated)
            {
                headers["x-tokenpool-usage-estimated"] = "true";
            }

            client.Context.Response.ContentLength = body.Length;
            var delivered = await client.WriteAsync(body);
            var result = AttemptResult.Finished(delivered ? RequestOutcome.Completed : RequestOutcome.ClientClosed) with
            {
                Accepted = true,
                Usage = usage,
                ResponseId = facts.ResponseId,
            };
            if (delivered)
            {
                target.Health.RecordSuccess((long)Stopwatch.GetElapsedTime(answer.Started, client.FirstByteTimestamp ?? Stopwatch.GetTimestamp()).TotalMilliseconds);
            }

            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>The answer as it came, unless it carries an error object: then with credentials taken out of its strings.</summary>
    private static ReadOnlyMemory<byte> Scrubbed(ReadOnlyMemory<byte> content, string secret)
    {
        if (!ErrorObjects.Contain(content.Span))
        {
            return content;
        }

        var scrubbed = new ArrayBufferWriter<byte>(content.Length);
        return SecretScrubber.TryScrubJson(content.Span, secret, scrubbed) ? scrubbed.WrittenMemory : content;
    }
}
