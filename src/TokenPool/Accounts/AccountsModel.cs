using Microsoft.EntityFrameworkCore;

namespace TokenPool.Accounts;

/// <summary>The store's tables for account security: sessions, single-use tokens, recovery codes, passkeys, the policy.</summary>
internal static class AccountsModel
{
    public static void Configure(ModelBuilder b)
    {
        b.Entity<AccountSession>(e =>
        {
            e.ToTable("account_sessions");
            e.HasIndex(s => s.TokenHash).IsUnique();
            e.HasIndex(s => s.AccountId);
            e.Property(s => s.TokenHash).HasMaxLength(64);
            e.Property(s => s.Method).HasMaxLength(32);
            e.Property(s => s.ClientAddress).HasMaxLength(64);
            e.Property(s => s.UserAgent).HasMaxLength(AccountSession.MaxUserAgentLength);
        });

        b.Entity<AccountToken>(e =>
        {
            e.ToTable("account_tokens");
            e.HasIndex(t => t.TokenHash).IsUnique();
            e.HasIndex(t => new { t.AccountId, t.Purpose });
            e.Property(t => t.TokenHash).HasMaxLength(64);
            e.Property(t => t.Purpose).HasMaxLength(32);
        });

        b.Entity<RecoveryCode>(e =>
        {
            e.ToTable("recovery_codes");
            e.HasIndex(c => c.AccountId);
            e.Property(c => c.CodeHash).HasMaxLength(64);
        });

        b.Entity<Passkey>(e =>
        {
            e.ToTable("passkeys");
            e.HasIndex(p => p.CredentialId).IsUnique();
            e.HasIndex(p => p.AccountId);
            e.Property(p => p.Name).HasMaxLength(Passkey.MaxNameLength);
        });

        b.Entity<SecurityPolicy>(e =>
        {
            e.ToTable("security_policy");
            e.Property(p => p.Id).ValueGeneratedNever();
        });
    }
}
