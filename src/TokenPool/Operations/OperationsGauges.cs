using System.Diagnostics.Metrics;
using TokenPool.Billing;
using TokenPool.Gateway;
using TokenPool.Upstreams;

namespace TokenPool.Operations;

/// <summary>
/// The gauges read when metrics are collected: upstream keys with an open circuit or disabled, per channel;
/// leases and their unused room; the usage writer's queue; requests in flight; whether the server is draining.
/// </summary>
internal sealed class OperationsGauges(
    TokenPoolMetrics metrics,
    UpstreamPool pool,
    QuotaLedger ledger,
    UsageWriter usageWriter,
    GatewayHandler gateway,
    GatewayDrain drain) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        metrics.Observe<long>("tokenpool.upstream_keys.open_circuit", "{key}",
            "Upstream keys whose circuit is open or half-open (too many recent failures), by channel.",
            () => ByChannel(health => health.State != BreakerState.Closed));
        metrics.Observe<long>("tokenpool.upstream_keys.disabled", "{key}",
            "Upstream keys disabled because the upstream rejected them (invalid, out of credit), by channel.",
            () => ByChannel(health => health.DisabledReason is not null));
        metrics.Observe<long>("tokenpool.upstream_keys.resting", "{key}",
            "Upstream keys resting after a 429 or 503 (as long as the upstream asked), by channel.",
            () => ByChannel(health => health.CooldownUntil > Environment.TickCount64));
        metrics.Observe<long>("tokenpool.leases", "{lease}",
            "Balance leases this instance holds (one per account and key with recent requests).",
            () => [new Measurement<long>(ledger.LeaseCount)]);
        metrics.Observe<double>("tokenpool.leases.unused", "USD",
            "Room this instance has reserved in leases that no request in flight holds.",
            () => [new Measurement<double>(ledger.LeaseUnusedMicros / 1_000_000.0)]);
        metrics.Observe<long>("tokenpool.settlement.queue", "{record}",
            "Usage records waiting to be written.",
            () => [new Measurement<long>(usageWriter.QueueLength)]);
        metrics.Observe<long>("tokenpool.requests.in_flight", "{request}",
            "API requests being handled now.",
            () => [new Measurement<long>(gateway.InFlight)]);
        metrics.Observe<int>("tokenpool.draining", "1",
            "1 while the server is stopping: it refuses new requests and lets streams in flight finish.",
            () => [new Measurement<int>(drain.Draining ? 1 : 0)]);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private IEnumerable<Measurement<long>> ByChannel(Func<KeyHealth, bool> counts)
    {
        var snapshot = pool.Snapshot;
        var seen = new HashSet<long>();
        var perChannel = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var channel in snapshot.Channels)
        {
            perChannel[channel.Name] = 0;
        }

        foreach (var route in snapshot.Routes.Values)
        {
            foreach (var target in route.All)
            {
                if (seen.Add(target.KeyId) && counts(target.Health))
                {
                    perChannel[target.Channel.Name] = perChannel.GetValueOrDefault(target.Channel.Name) + 1;
                }
            }
        }

        foreach (var (channel, count) in perChannel)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("channel", channel));
        }
    }
}
