using System.Collections.Frozen;

namespace TokenPool.Keys;

/// <summary>What the gateway needs to know about a key and its account, cached in memory.</summary>
internal sealed record KeyIdentity(
    long KeyId,
    string LookupHash,
    long AccountId,
    string Mask,
    ApiKeyStatus Status,
    DateTime? ExpiresAt,
    DateTime? DeletedAt,
    bool AccountDisabled,
    FrozenSet<string>? AllowedModels,
    RequestLimits KeyLimits,
    RequestLimits AccountLimits)
{
    public bool AllowsModel(string model) => AllowedModels is null || AllowedModels.Contains(model);

    /// <summary>Null when the key may be used now; otherwise why not.</summary>
    public KeyRefusal? Refusal(DateTime now) =>
        DeletedAt is not null ? KeyRefusal.Deleted
        : Status == ApiKeyStatus.Disabled ? KeyRefusal.Disabled
        : ExpiresAt is { } expires && expires <= now ? KeyRefusal.Expired
        : AccountDisabled ? KeyRefusal.AccountDisabled
        : null;
}

/// <summary>Optional per-key or per-account limits; null means no limit.</summary>
internal sealed record RequestLimits(int? RequestsPerMinute, int? TokensPerMinute, int? MaxConcurrentRequests)
{
    public static readonly RequestLimits None = new(null, null, null);

    public bool IsEmpty => RequestsPerMinute is null && TokensPerMinute is null && MaxConcurrentRequests is null;

    /// <summary>Throws when a limit is set to zero or less (a limit that would refuse every request).</summary>
    public static void Validate(RequestLimits limits)
    {
        if (limits.RequestsPerMinute <= 0 || limits.TokensPerMinute <= 0 || limits.MaxConcurrentRequests <= 0)
        {
            throw new ArgumentException("A requests-per-minute, tokens-per-minute or concurrency limit must be a whole number of at least 1, or none for no limit.");
        }
    }

    /// <summary>The limits in one line, e.g. "rpm 60, tpm none, concurrency 4".</summary>
    public string Describe() =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"rpm {Show(RequestsPerMinute)}, tpm {Show(TokensPerMinute)}, concurrency {Show(MaxConcurrentRequests)}");

    private static string Show(int? limit) => limit is { } value ? value.ToString(System.Globalization.CultureInfo.InvariantCulture) : "none";
}

internal enum KeyRefusal
{
    Deleted,
    Disabled,
    Expired,
    AccountDisabled,
}
