using TokenPool.Gateway.Relay;
using TokenPool.Gateway.Translation;

namespace TokenPool.Upstreams;

/// <summary>
/// The order in which one request tries upstream targets:
/// <list type="number">
/// <item>the session's own target first, while it is healthy and can carry the request;</item>
/// <item>then the highest-priority group of available targets; within it, those whose channel serves the client's
/// API itself first (picked by weight), then those that reach it over a bridge (picked by weight);</item>
/// <item>then lower groups the same way.</item>
/// </list>
/// A target is tried at most once per request, and one that is cooling down, has an open breaker, is disabled, or
/// can carry the request neither natively nor over a bridge is never tried.
/// </summary>
internal sealed class RoutePlan(ModelRoute route, ApiKind api, BridgeSource bridges, UpstreamTarget? preferred)
{
    private readonly HashSet<long> _tried = [];

    public int Attempts => _tried.Count;

    public UpstreamTarget? Next(long now)
    {
        if (preferred is not null && _tried.Add(preferred.KeyId))
        {
            if (CanCarry(preferred) && preferred.Health.IsAvailable(now))
            {
                return preferred;
            }
        }

        foreach (var group in route.Groups)
        {
            if ((Pick(group, now, native: true) ?? Pick(group, now, native: false)) is { } chosen)
            {
                _tried.Add(chosen.KeyId);
                return chosen;
            }
        }

        return null;
    }

    /// <summary>When the first resting target that can carry this API becomes available again (Environment.TickCount64), if any.</summary>
    public long? EarliestAvailableAt()
    {
        long? earliest = null;
        foreach (var target in route.All)
        {
            if (!CanCarry(target) || target.Health.DisabledReason is not null)
            {
                continue;
            }

            var at = target.Health.AvailableAt;
            if (earliest is null || at < earliest)
            {
                earliest = at;
            }
        }

        return earliest;
    }

    /// <summary>One target of the group by weight, among those that serve the API themselves (or, if not <paramref name="native"/>, over a bridge).</summary>
    private UpstreamTarget? Pick(UpstreamTarget[] group, long now, bool native)
    {
        var total = 0.0;
        foreach (var target in group)
        {
            if (Eligible(target, now, native))
            {
                total += target.Weight;
            }
        }

        if (total <= 0)
        {
            return null;
        }

        var pick = Random.Shared.NextDouble() * total;
        UpstreamTarget? chosen = null;
        foreach (var target in group)
        {
            if (!Eligible(target, now, native))
            {
                continue;
            }

            chosen = target;
            pick -= target.Weight;
            if (pick < 0)
            {
                break;
            }
        }

        return chosen;
    }

    private bool CanCarry(UpstreamTarget target) => target.UpstreamApiFor(api, bridges) is not null;

    private bool Eligible(UpstreamTarget target, long now, bool native) =>
        (native ? target.Serves(api) : !target.Serves(api) && CanCarry(target))
        && !_tried.Contains(target.KeyId) && target.Health.IsAvailable(now);
}
