namespace TokenPool.Accounts;

/// <summary>
/// One signed-in console session. The browser's cookie carries a random token; the store keeps only its
/// SHA-256 hash, so a copy of the database cannot be turned into a session. Deleting the row ends the
/// session at once: the next request with that cookie is signed out.
/// </summary>
internal sealed class AccountSession
{
    public const int MaxUserAgentLength = 256;

    public long Id { get; set; }

    public long AccountId { get; set; }

    /// <summary>Hex SHA-256 of the cookie's session token.</summary>
    public required string TokenHash { get; set; }

    /// <summary>How the session was signed in: see <see cref="SignInMethods"/>.</summary>
    public required string Method { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime LastSeenAt { get; set; }

    /// <summary>When the session ends without further use (sliding).</summary>
    public DateTime ExpiresAt { get; set; }

    /// <summary>When the password (and the second factor, when the account has one) was last entered in this session.</summary>
    public DateTime? ConfirmedAt { get; set; }

    public string? ClientAddress { get; set; }

    public string? UserAgent { get; set; }
}

/// <summary>How a session was signed in.</summary>
internal static class SignInMethods
{
    public const string Password = "password";
    public const string PasswordAndCode = "password+totp";
    public const string PasswordAndRecoveryCode = "password+recovery";
    public const string Passkey = "passkey";

    /// <summary>True when the session proved a second factor (or a passkey, which is one by itself).</summary>
    public static bool IsStrong(string method) => method != Password;
}
