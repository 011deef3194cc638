namespace TokenPool.Billing;

/// <summary>A change to an account's credit that did not come from a request: a grant, a removal, the starting credit.</summary>
internal sealed class LedgerEntry
{
    public long Id { get; set; }

    public long AccountId { get; set; }

    /// <summary>Positive for credit added, negative for credit removed.</summary>
    public long AmountMicros { get; set; }

    public required string Kind { get; set; }

    public string? Reason { get; set; }

    /// <summary>The admin who made the change; null for the system (starting credit, CLI).</summary>
    public long? ActorAccountId { get; set; }

    public DateTime CreatedAt { get; set; }
}

internal static class LedgerKinds
{
    public const string StartingCredit = "starting_credit";
    public const string Grant = "grant";
    public const string Removal = "removal";
}
