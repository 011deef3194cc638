namespace TokenPool.Accounts;

/// <summary>A WebAuthn credential (passkey) registered to an account: its id and public key, never a secret.</summary>
internal sealed class Passkey
{
    public const int MaxNameLength = 64;

    public long Id { get; set; }

    public long AccountId { get; set; }

    public required byte[] CredentialId { get; set; }

    /// <summary>The COSE-encoded public key the authenticator signs with.</summary>
    public required byte[] PublicKey { get; set; }

    public long SignCount { get; set; }

    public required string Name { get; set; }

    public DateTime CreatedAt { get; set; }

    public DateTime? LastUsedAt { get; set; }
}
