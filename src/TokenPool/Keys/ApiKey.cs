namespace TokenPool.Keys;

/// <summary>
/// An API key as stored. The key itself is never stored in the clear: <see cref="LookupHash"/> is a keyed
/// hash used to find the row, and <see cref="ProtectedKey"/> is the key encrypted with the deployment's
/// data-protection keys (kept outside the database) so that its owner can reveal it again.
/// </summary>
internal sealed class ApiKey
{
    public long Id { get; set; }

    public long AccountId { get; set; }

    public required string Name { get; set; }

    public required string LookupHash { get; set; }

    public required string ProtectedKey { get; set; }

    /// <summary>The first characters of the key, e.g. <c>sk-tp-Ab3d</c>, safe to show.</summary>
    public required string DisplayPrefix { get; set; }

    public required string Last4 { get; set; }

    public ApiKeyStatus Status { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime? LastUsedAt { get; set; }

    public DateTime? ExpiresAt { get; set; }

    /// <summary>Set when the key is deleted; the row stays so that a request with it can be told so.</summary>
    public DateTime? DeletedAt { get; set; }

    /// <summary>Comma-separated model allow-list; null means every model.</summary>
    public string? AllowedModels { get; set; }

    /// <summary>Lifetime spend limit for this key; null means only the account balance limits it.</summary>
    public long? SpendLimitMicros { get; set; }

    public long ChargedMicros { get; set; }

    public long ReservedMicros { get; set; }

    public int? RequestsPerMinute { get; set; }

    public int? TokensPerMinute { get; set; }

    public int? MaxConcurrentRequests { get; set; }

    /// <summary>When this key was rotated, the key that replaced it.</summary>
    public long? ReplacedByKeyId { get; set; }
}

internal enum ApiKeyStatus
{
    Active = 0,
    Disabled = 1,
}
