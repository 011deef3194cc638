namespace TokenPool.Accounts;

/// <summary>Sign-in rules an admin sets in the console; one row (id 1), absent until first changed.</summary>
internal sealed class SecurityPolicy
{
    public const int SingletonId = 1;

    public int Id { get; set; } = SingletonId;

    /// <summary>Admins must sign in with a second factor (an authenticator code or a passkey); one without is sent to set it up.</summary>
    public bool RequireTwoFactorForAdmins { get; set; }

    public DateTime UpdatedAt { get; set; }
}
