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
    public const string PasswordReset = "account.password_reset";
    public const string PasswordResetRequested = "account.password_reset_requested";
    public const string SignedOut = "account.signed_out";
    public const string PasswordSetByOperator = "account.password_set_by_operator";
    public const string SessionEnded = "account.session_ended";
    public const string OtherSessionsEnded = "account.other_sessions_ended";
    public const string SignedOutEverywhere = "account.signed_out_everywhere";
    public const string EmailVerified = "account.email_verified";
    public const string TwoFactorEnabled = "account.two_factor_enabled";
    public const string TwoFactorDisabled = "account.two_factor_disabled";
    public const string RecoveryCodesRenewed = "account.recovery_codes_renewed";
    public const string RecoveryCodeUsed = "account.recovery_code_used";
    public const string PasskeyAdded = "account.passkey_added";
    public const string PasskeyRenamed = "account.passkey_renamed";
    public const string PasskeyRemoved = "account.passkey_removed";
    public const string SecurityPolicyChanged = "account.security_policy_changed";
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
