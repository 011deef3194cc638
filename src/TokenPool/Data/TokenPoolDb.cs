using System.Text;
using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Keys;
using TokenPool.Upstreams;

namespace TokenPool.Data;

/// <summary>
/// TokenPool's store: one model for every engine. Tables and columns are snake_case so that the few
/// hand-written statements on the hot path (quota reservation, settlement) read the same on every provider.
/// Each engine has its own context type deriving from this one (<see cref="Sqlite.SqliteTokenPoolDb"/>,
/// <see cref="Postgres.PostgresTokenPoolDb"/>) only so that each keeps its own migrations; the rest of
/// TokenPool asks for <c>IDbContextFactory&lt;TokenPoolDb&gt;</c> and never knows which engine it talks to.
/// A new entity goes here, and gets a migration for each engine (see the README, "Adding a table").
/// </summary>
internal abstract class TokenPoolDb(DbContextOptions options) : DbContext(options)
{
    public DbSet<Account> Accounts => Set<Account>();

    public DbSet<AuditEvent> AuditEvents => Set<AuditEvent>();

    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();

    public DbSet<Channel> Channels => Set<Channel>();

    public DbSet<ChannelKey> ChannelKeys => Set<ChannelKey>();

    public DbSet<ModelPrice> ModelPrices => Set<ModelPrice>();

    public DbSet<LedgerEntry> Ledger => Set<LedgerEntry>();

    public DbSet<Reservation> Reservations => Set<Reservation>();

    public DbSet<UsageRecord> UsageRecords => Set<UsageRecord>();

    public DbSet<UsageDaily> UsageDaily => Set<UsageDaily>();

    public DbSet<ChangeLogEntry> ChangeLog => Set<ChangeLogEntry>();

    public DbSet<GatewayInstance> GatewayInstances => Set<GatewayInstance>();

    public DbSet<AccountSession> Sessions => Set<AccountSession>();

    public DbSet<AccountToken> AccountTokens => Set<AccountToken>();

    public DbSet<RecoveryCode> RecoveryCodes => Set<RecoveryCode>();

    public DbSet<Passkey> Passkeys => Set<Passkey>();

    public DbSet<SecurityPolicy> SecurityPolicy => Set<SecurityPolicy>();

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<Account>(e =>
        {
            e.ToTable("accounts");
            e.HasIndex(a => a.NormalizedEmail).IsUnique();
            e.Property(a => a.Email).HasMaxLength(320);
            e.Property(a => a.NormalizedEmail).HasMaxLength(320);
            e.Ignore(a => a.HasTotp);
        });

        AccountsModel.Configure(b);

        b.Entity<AuditEvent>(e =>
        {
            e.ToTable("audit_events");
            e.HasIndex(a => new { a.AccountId, a.CreatedAt });
        });

        b.Entity<ApiKey>(e =>
        {
            e.ToTable("api_keys");
            e.HasIndex(k => k.LookupHash).IsUnique();
            e.HasIndex(k => k.AccountId);
            e.Property(k => k.Name).HasMaxLength(100);
        });

        b.Entity<Channel>(e =>
        {
            e.ToTable("channels");
            e.HasIndex(c => c.Name).IsUnique();
            e.Property(c => c.Wire).HasConversion(wire => wire.Bits, bits => new WireSet(bits));
            e.HasMany(c => c.Keys).WithOne().HasForeignKey(k => k.ChannelId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<ChannelKey>(e => e.ToTable("channel_keys"));

        b.Entity<ModelPrice>(e =>
        {
            e.ToTable("model_prices");
            e.HasKey(p => p.Model);
        });

        b.Entity<LedgerEntry>(e =>
        {
            e.ToTable("ledger");
            e.HasIndex(l => new { l.AccountId, l.CreatedAt });
        });

        b.Entity<Reservation>(e =>
        {
            e.ToTable("reservations");
            e.HasKey(r => r.RequestId);
            e.HasIndex(r => r.ExpiresAt);
        });

        b.Entity<UsageRecord>(e =>
        {
            e.ToTable("usage_records");
            e.HasIndex(u => u.RequestId).IsUnique();
            e.HasIndex(u => new { u.AccountId, u.CreatedAt });
            e.HasIndex(u => new { u.KeyId, u.CreatedAt });
        });

        b.Entity<UsageDaily>(e =>
        {
            e.ToTable("usage_daily");
            e.HasKey(d => new { d.AccountId, d.Day, d.KeyId, d.Model });
        });

        b.Entity<ChangeLogEntry>(e =>
        {
            e.ToTable("change_log");
            e.HasKey(c => c.Seq);
        });

        b.Entity<GatewayInstance>(e =>
        {
            e.ToTable("gateway_instances");
            e.Property(i => i.Id).HasMaxLength(64);
            e.Property(i => i.Host).HasMaxLength(255);
        });

        foreach (var entity in b.Model.GetEntityTypes())
        {
            foreach (var property in entity.GetProperties())
            {
                property.SetColumnName(SnakeCase(property.Name));
            }
        }
    }

    internal static string SnakeCase(string name)
    {
        var sb = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                if (i > 0 && (char.IsLower(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]))))
                {
                    sb.Append('_');
                }

                sb.Append(char.ToLowerInvariant(c));
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
