namespace TokenPool.Accounts;

/// <summary>
/// A single-use token sent by mail (password reset, email verification) or a spent passkey challenge. The store
/// keeps only the token's SHA-256 hash; <see cref="UsedAt"/> is set once, atomically, when it is spent.
/// </summary>
internal sealed class AccountToken
{
    public long Id { get; set; }

    public long AccountId { get; set; }

    /// <summary>What the token is for: see <see cref="AccountTokenPurposes"/>.</summary>
    public required string Purpose { get; set; }

    public required string TokenHash { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime ExpiresAt { get; set; }

    public DateTime? UsedAt { get; set; }
}

internal static class AccountTokenPurposes
{
    public const string PasswordReset = "password_reset";
    public const string VerifyEmail = "verify_email";

    /// <summary>A passkey ceremony's challenge, recorded when used so that it cannot be used again.</summary>
    public const string PasskeyChallenge = "passkey_challenge";
}
