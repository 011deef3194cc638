namespace TokenPool.Billing;

/// <summary>
/// Funds held for one request that is in flight. Created atomically with the hold on the account and
/// key, deleted exactly once when the request is settled. A reservation that outlives
/// <see cref="ExpiresAt"/> belonged to a process that died; it is released by reconciliation.
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
