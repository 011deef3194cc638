namespace TokenPool.Accounts;

/// <summary>
/// A person who signs in to the console and owns API keys.
/// Money is kept in micro-dollars (1 USD = 1,000,000). The columns obey one invariant, checked by
/// the tests after every concurrency and fault scenario:
/// <c>BalanceMicros + ReservedMicros == CreditedMicros - ChargedMicros</c>.
/// </summary>
internal sealed class Account
{
    public long Id { get; set; }

    public required string Email { get; set; }

    /// <summary>Lower-cased, trimmed email; unique.</summary>
    public required string NormalizedEmail { get; set; }

    public required string PasswordHash { get; set; }

    public AccountRole Role { get; set; }

    public bool IsDisabled { get; set; }

    /// <summary>Changes whenever the password changes; sessions carrying an older stamp are signed out.</summary>
    public required string SecurityStamp { get; set; }

    /// <summary>What the account may still spend: credits minus settled charges minus open reservations.</summary>
    public long BalanceMicros { get; set; }

    /// <summary>Held by requests that are in flight.</summary>
    public long ReservedMicros { get; set; }

    /// <summary>Sum of every settled charge over the account's life.</summary>
    public long ChargedMicros { get; set; }

    /// <summary>Sum of every ledger credit (grants minus removals) over the account's life.</summary>
    public long CreditedMicros { get; set; }

    public int? RequestsPerMinute { get; set; }

    public int? TokensPerMinute { get; set; }

    public int? MaxConcurrentRequests { get; set; }

    public DateTime CreatedAt { get; set; }

    /// <summary>When the owner followed the verification link (or an operator created the account); null while unverified.</summary>
    public DateTime? EmailVerifiedAt { get; set; }

    /// <summary>The authenticator app's shared secret, encrypted with the deployment's data-protection keys; null without two-factor sign-in.</summary>
    public string? TotpSecret { get; set; }

    public DateTime? TotpEnabledAt { get; set; }

    /// <summary>The last 30-second time step whose code was accepted: a code is never accepted twice.</summary>
    public long TotpLastStep { get; set; }

    public bool HasTotp => TotpEnabledAt is not null && TotpSecret is not null;
}

internal enum AccountRole
{
    User = 0,
    Admin = 1,
}
