namespace TokenPool.Accounts;

/// <summary>Something an account owner may want to review later: a key revealed, created, deleted.</summary>
internal sealed class AuditEvent
{
    public long Id { get; set; }

    public long AccountId { get; set; }

    /// <summary>Who did it, when it was not the owner (an admin granting credit, say).</summary>
    public long? ActorAccountId { get; set; }

    public required string Kind { get; set; }

    public long? KeyId { get; set; }

    public string? Detail { get; set; }

    public string? ClientAddress { get; set; }

    public DateTime CreatedAt { get; set; }
}
