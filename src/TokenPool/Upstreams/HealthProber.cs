using System.Net;
using TokenPool.Gateway.Dialects;
using TokenPool.Gateway.Relay;

namespace TokenPool.Upstreams;

/// <summary>
/// Closes circuit breakers again. Once a key's open period is over it is half-open: no client request
/// goes to it, and this service sends it one real, small request (a few output tokens). A good answer
/// closes the breaker; a failure opens it again for twice as long; a rejected key is disabled.
/// </summary>
internal sealed partial class HealthProber(UpstreamPool pool, ILogger<HealthProber> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxProbeTime = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(Interval);
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await ProbeDueKeysAsync(stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogProbeLoopFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Probes every key whose open period is over, at the same time, and waits for the answers.</summary>
    public async Task ProbeDueKeysAsync(CancellationToken cancellationToken)
    {
        var now = Environment.TickCount64;
        var due = new Dictionary<long, (UpstreamTarget Target, string Model)>();
        foreach (var (model, route) in pool.Snapshot.Routes)
        {
            foreach (var target in route.All)
            {
                if (!due.ContainsKey(target.KeyId) && target.Health.DisabledReason is null && target.Health.ProbeDue(now))
                {
                    due[target.KeyId] = (target, model);
                }
            }
        }

        await Task.WhenAll(due.Values.Select(d => ProbeAsync(d.Target, d.Model, cancellationToken)));
    }

    private async Task ProbeAsync(UpstreamTarget target, string model, CancellationToken cancellationToken)
    {
        var channel = target.Channel;
        var dialect = ProbeDialect(channel);
        using var request = new HttpRequestMessage(HttpMethod.Post, channel.UriFor(dialect))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrHigher,
            Content = new ByteArrayContent(dialect.ProbeBody(channel.UpstreamModel(model), 16)),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        dialect.Authenticate(request.Headers, target);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(channel.ResponseHeadersTimeout < MaxProbeTime ? channel.ResponseHeadersTimeout : MaxProbeTime);
        string outcome;
        try
        {
            using var response = await channel.Invoker.SendAsync(request, timeout.Token);
            var status = (int)response.StatusCode;
            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            outcome = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (status is >= 200 and < 300)
            {
                target.Health.ProbeSucceeded();
            }
            else
            {
                // The same reading of the status as the relay's (UpstreamFaults); only what a probe's answer means differs.
                var error = dialect.ReadError(body);
                switch (UpstreamFaults.Classify(status, error.Code, error.IsJson))
                {
                    case UpstreamFault.RateLimited:
                        // Alive, only busy: close the breaker and let the cool-down handle the rate limit.
                        target.Health.ProbeSucceeded();
                        await UpstreamFaults.ApplyAsync(UpstreamFault.RateLimited, status, error.Code, UpstreamFaults.RetryAfter(response, null), target, pool);
                        break;
                    case UpstreamFault.KeyRejected or UpstreamFault.PaymentRequired or UpstreamFault.OutOfCredit:
                        await pool.DisableKeyAsync(target, $"The upstream rejected this key on a health probe ({status}).", new UpstreamError(status, error.Code, "key rejected on a health probe"));
                        break;
                    default:
                        target.Health.ProbeFailed(new UpstreamError(status, error.Code, "health probe failed"), Environment.TickCount64);
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException && !cancellationToken.IsCancellationRequested)
        {
            outcome = ex is OperationCanceledException ? "timeout" : "unreachable";
            target.Health.ProbeFailed($"health probe failed: {outcome}", Environment.TickCount64);
        }

        LogProbed(logger, channel.Name, target.KeyId, outcome, target.Health.State.ToString());
    }

    /// <summary>The API a probe speaks to a channel: Responses when it serves it (OpenAI), else the first it serves.</summary>
    internal static Dialect ProbeDialect(ChannelRuntime channel) =>
        channel.Wire.Apis.Select(ApiTable.Find).FirstOrDefault(d => d is not null) ?? ApiTable.Dialects[0];

    [LoggerMessage(EventId = 2005, Level = LogLevel.Information, Message = "Health probe of channel {Channel} key {KeyId}: {Outcome}; breaker now {State}")]
    private static partial void LogProbed(ILogger logger, string channel, long keyId, string outcome, string state);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Error, Message = "Health probing failed")]
    private static partial void LogProbeLoopFailed(ILogger logger, Exception exception);
}
