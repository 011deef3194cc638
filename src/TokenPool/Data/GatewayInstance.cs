namespace TokenPool.Data;

/// <summary>
/// A running gateway instance: it writes its row at start and its heartbeat every few seconds. Its leases (the
/// <c>reservations</c> rows named <c>lease_&lt;id&gt;_…</c>) are its own; when its heartbeat is older than
/// <see cref="StoreOptions.InstanceTimeoutSeconds"/>, another instance releases them and removes the row.
/// </summary>
internal sealed class GatewayInstance
{
    public required string Id { get; set; }

    /// <summary>The machine it runs on, for an operator reading the table.</summary>
    public string? Host { get; set; }

    public DateTime StartedAt { get; set; }

    public DateTime HeartbeatAt { get; set; }
}
