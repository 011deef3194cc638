namespace TokenPool.Upstreams;

/// <summary>
/// The order in which one request tries upstream targets: the session's own target first while it is
/// healthy, then the highest-priority group of available targets, picked by weight, then lower
/// groups. A target is tried at most once per request, and one that is cooling down, has an open
/// breaker or is disabled is never tried.
/// </summary>
internal sealed class RoutePlan(ModelRoute route, ClientApiKind api, UpstreamTarget? preferred)
{
    private readonly HashSet<long> _tried = [];

    public int Attempts => _tried.Count;

    public UpstreamTarget? Next(long now)
    {
        if (preferred is not null && _tried.Add(preferred.KeyId))
        {
            if (preferred.Serves(api) && preferred.Health.IsAvailable(now))
            {
                return preferred;
            }
        }

        foreach (var group in route.Groups)
        {
            var total = 0.0;
            foreach (var target in group)
            {
                if (Eligible(target, now))
                {
                    total += target.Weight;
                }
            }

            if (total <= 0)
            {
                continue;
            }

            var pick = Random.Shared.NextDouble() * total;
            UpstreamTarget? chosen = null;
            foreach (var target in group)
            {
                if (!Eligible(target, now))
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

            if (chosen is not null)
            {
                _tried.Add(chosen.KeyId);
                return chosen;
            }
        }

        return null;
    }

    /// <summary>When the first resting target that serves this API becomes available again (Environment.TickCount64), if any.</summary>
    public long? EarliestAvailableAt()
    {
        long? earliest = null;
        foreach (var target in route.All)
        {
            if (!target.Serves(api) || target.Health.DisabledReason is not null)
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

    private bool Eligible(UpstreamTarget target, long now) =>
        target.Serves(api) && !_tried.Contains(target.KeyId) && target.Health.IsAvailable(now);
}
