namespace TokenPool.Billing;

/// <summary>
/// Funds held in the store: a lease of one gateway instance for one account and key (see <see cref="QuotaLedger"/>),
/// named by <see cref="RequestId"/> (<c>lease_&lt;instance&gt;_&lt;account&gt;_&lt;key&gt;</c>), or, in stores written
/// before leases, the hold of a single request. A row that outlives <see cref="ExpiresAt"/> belonged to a process
/// that died; it is released by reconciliation.
/// </summary>
internal sealed class Reservation
{
    public required string RequestId { get; set; }

    public long AccountId { get; set; }

    public long KeyId { get; set; }

    public long AmountMicros { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime ExpiresAt { get; set; }
}
