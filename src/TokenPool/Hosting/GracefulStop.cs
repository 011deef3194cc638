using System.Diagnostics;
using Microsoft.Extensions.Options;
using TokenPool.Gateway;

namespace TokenPool.Hosting;

/// <summary>
/// What a stop (SIGTERM, SIGINT, <c>systemctl restart</c>, <c>docker stop</c>) does, before the web server stops listening:
/// <list type="number">
/// <item>readiness turns false and the gateway refuses new requests with a retryable error (<see cref="GatewayDrain.Begin"/>);</item>
/// <item>requests in flight, streams included, run to their end, up to <see cref="LifecycleOptions.DrainSeconds"/>;</item>
/// <item>at the deadline, the streams left end with their API's terminal error event (<see cref="GatewayDrain.EndStreams"/>),
/// and get up to <see cref="LifecycleOptions.SettleSeconds"/> to queue their usage records;</item>
/// <item>then the host stops the web server and the other services: the usage writer writes every queued record and gives
/// every lease's unused room back (<see cref="Billing.UsageWriter"/>), and the process exits with code 0.</item>
/// </list>
/// </summary>
internal sealed partial class GracefulStop(GatewayDrain drain, GatewayHandler gateway, IOptions<LifecycleOptions> options, ILogger<GracefulStop> logger)
    : IHostedLifecycleService
{
    private readonly LifecycleOptions _options = options.Value;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        drain.Begin();
        LogDraining(logger, gateway.InFlight, _options.DrainSeconds);
        if (!await WaitForIdleAsync(TimeSpan.FromSeconds(_options.DrainSeconds), cancellationToken))
        {
            LogDeadline(logger, gateway.InFlight);
            drain.EndStreams();
            if (!await WaitForIdleAsync(TimeSpan.FromSeconds(_options.SettleSeconds), cancellationToken))
            {
                LogNotSettled(logger, gateway.InFlight);
            }
        }

        LogDrained(logger, (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Waits until no request is in flight (each has queued its usage record); false when the time ran out first.</summary>
    private async Task<bool> WaitForIdleAsync(TimeSpan within, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(within.TotalSeconds * Stopwatch.Frequency);
        while (gateway.InFlight > 0)
        {
            if (Stopwatch.GetTimestamp() >= deadline || cancellationToken.IsCancellationRequested)
            {
                return false;
            }

            await Task.Delay(20, CancellationToken.None);
        }

        return true;
    }

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Stopping: {InFlight} requests in flight get up to {DrainSeconds} s to finish; new requests are refused")]
    private static partial void LogDraining(ILogger logger, long inFlight, int drainSeconds);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Drain deadline passed with {InFlight} requests still running; ending them")]
    private static partial void LogDeadline(ILogger logger, long inFlight);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Error, Message = "{InFlight} requests had not settled when the server stopped")]
    private static partial void LogNotSettled(ILogger logger, long inFlight);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Information, Message = "Drained in {ElapsedMs} ms; writing usage records and returning leases")]
    private static partial void LogDrained(ILogger logger, long elapsedMs);
}
