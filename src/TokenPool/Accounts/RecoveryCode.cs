namespace TokenPool.Accounts;

/// <summary>One of the ten single-use codes that stand in for the authenticator app; stored as a keyed hash only.</summary>
internal sealed class RecoveryCode
{
    public long Id { get; set; }

    public long AccountId { get; set; }

    public required string CodeHash { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime? UsedAt { get; set; }
}
