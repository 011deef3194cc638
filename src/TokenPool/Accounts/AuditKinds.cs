namespace TokenPool.Accounts;

internal static class AuditKinds
{
    public const string KeyCreated = "key.created";
    public const string KeyRevealed = "key.revealed";
    public const string KeyDeleted = "key.deleted";
    public const string KeyRotated = "key.rotated";
    public const string KeyUpdated = "key.updated";
    public const string KeyLimitsChanged = "key.limits_changed";
    public const string SignedIn = "account.signed_in";
    public const string PasswordChanged = "account.password_changed";
    public const string CreditChanged = "account.credit_changed";
    public const string AccountDisabled = "account.disabled";
    public const string AccountEnabled = "account.enabled";
    public const string RoleChanged = "account.role_changed";
    public const string AccountLimitsChanged = "account.limits_changed";
    public const string UpstreamKeyEnabled = "channel.key_enabled";
    public const string UpstreamKeyDisabled = "channel.key_disabled";
    public const string UpstreamKeyReset = "channel.key_reset";
    public const string ModelAdded = "model.added";
    public const string ModelPriceChanged = "model.price_changed";
}
