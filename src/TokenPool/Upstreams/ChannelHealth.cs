using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Data;

namespace TokenPool.Upstreams;

/// <summary>One upstream key's health as the admin pages show it.</summary>
internal sealed record KeyHealthView(ChannelKey Key, KeyState State, string? Reason, DateTime? Until, HealthReport? Report)
{
    public bool IsAvailable => State == KeyState.Healthy;

    public bool CanReset => State is KeyState.CircuitOpen or KeyState.HalfOpen or KeyState.CoolingDown;
}

/// <summary>A channel's health: its keys, and their requests, errors and latency taken together.</summary>
internal sealed record ChannelHealthView(
    bool ChannelEnabled,
    IReadOnlyList<KeyHealthView> Keys,
    int Requests,
    int Errors,
    TimeSpan Window,
    LatencySummary Latency,
    IReadOnlyList<(KeyHealthView Key, HealthError Error)> RecentErrors)
{
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;

    public int AvailableKeys => Keys.Count(k => k.IsAvailable);

    /// <summary>"healthy", "degraded", "unavailable" or "disabled".</summary>
    public string State =>
        !ChannelEnabled ? "disabled"
        : Keys.Count > 0 && AvailableKeys == Keys.Count ? "healthy"
        : AvailableKeys > 0 ? "degraded"
        : "unavailable";
}

/// <summary>
/// The health of channels and their keys for the admin pages, as this instance has seen it (the counts
/// are kept in memory by each instance), and the operator's actions on a key's health, audited.
/// </summary>
internal sealed class ChannelHealth(UpstreamPool pool, ChannelService channels, IDbContextFactory<TokenPoolDb> dbFactory, TimeProvider time)
{
    private const int RecentErrorsShown = 20;

    public ChannelHealthView Of(Channel channel)
    {
        var now = Environment.TickCount64;
        var utcNow = time.GetUtcNow().UtcDateTime;
        var keys = new List<KeyHealthView>(channel.Keys.Count);
        var samples = new List<int>();
        var requests = 0;
        var errors = 0;
        var window = TimeSpan.FromMinutes(pool.Options.HealthWindowMinutes);
        foreach (var key in channel.Keys.OrderBy(k => k.Id))
        {
            HealthReport? report = null;
            if (pool.AllHealth.TryGetValue(key.Id, out var health))
            {
                report = health.Report(now, utcNow);
                health.CopyLatencies(now, samples);
                requests += report.WindowRequests;
                errors += report.WindowErrors;
                window = report.Window;
            }

            keys.Add(!key.IsEnabled
                ? new KeyHealthView(key, KeyState.Disabled, key.DisabledReason ?? report?.DisabledReason ?? "Disabled.", null, report)
                : new KeyHealthView(key, report?.State ?? KeyState.Healthy, report?.DisabledReason, report?.Until, report));
        }

        var recent = keys
            .SelectMany(k => (k.Report?.RecentErrors ?? []).Select(e => (Key: k, Error: e)))
            .OrderByDescending(e => e.Error.At)
            .Take(RecentErrorsShown)
            .ToList();
        return new ChannelHealthView(channel.IsEnabled, keys, requests, errors, window, LatencySummary.Of(samples), recent);
    }

    /// <summary>Enables or disables an upstream key; enabling also lets it take requests on this instance at once.</summary>
    public async Task SetKeyEnabledAsync(long channelId, long keyId, bool enabled, long actorAccountId, string? clientAddress, CancellationToken cancellationToken)
    {
        await channels.SetKeyEnabledAsync(channelId, keyId, enabled, cancellationToken);
        if (enabled && pool.AllHealth.TryGetValue(keyId, out var health))
        {
            health.Enable();
        }

        await AuditAsync(actorAccountId, enabled ? AuditKinds.UpstreamKeyEnabled : AuditKinds.UpstreamKeyDisabled, channelId, keyId, clientAddress, cancellationToken);
    }

    /// <summary>Closes a key's circuit breaker and ends its cool-down on this instance, so it takes requests again at once.</summary>
    public async Task ResetKeyAsync(long channelId, long keyId, long actorAccountId, string? clientAddress, CancellationToken cancellationToken)
    {
        await using (var db = await dbFactory.CreateDbContextAsync(cancellationToken))
        {
            if (!await db.ChannelKeys.AnyAsync(k => k.Id == keyId && k.ChannelId == channelId, cancellationToken))
            {
                throw new ChannelActionException("No such key in this channel.");
            }
        }

        if (pool.AllHealth.TryGetValue(keyId, out var health))
        {
            health.Reset();
        }

        await AuditAsync(actorAccountId, AuditKinds.UpstreamKeyReset, channelId, keyId, clientAddress, cancellationToken);
    }

    private async Task AuditAsync(long actorAccountId, string kind, long channelId, long keyId, string? clientAddress, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var key = await db.ChannelKeys.AsNoTracking()
            .Where(k => k.Id == keyId)
            .Select(k => new { k.Last4, Channel = db.Channels.Where(c => c.Id == k.ChannelId).Select(c => c.Name).FirstOrDefault() })
            .FirstOrDefaultAsync(cancellationToken);
        db.AuditEvents.Add(new AuditEvent
        {
            AccountId = actorAccountId,
            ActorAccountId = actorAccountId,
            Kind = kind,
            Detail = $"channel {key?.Channel ?? "#" + channelId}, upstream key #{keyId}{(key is null ? "" : " …" + key.Last4)}",
            ClientAddress = clientAddress,
            CreatedAt = time.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(cancellationToken);
    }
}
