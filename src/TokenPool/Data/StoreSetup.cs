using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TokenPool.Billing;

namespace TokenPool.Data;

internal static class StoreSetup
{
    public static IServiceCollection AddStore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<StoreOptions>().Bind(configuration.GetSection(StoreOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(provider => provider.GetRequiredService<IOptions<StoreOptions>>().Value.ResolveConnection());
        services.AddSingleton(provider => StoreEngines.Factory(provider.GetRequiredService<StoreConnection>()));
        services.AddSingleton<ChangeFeed>();

        // Each engine's corner: SQLite's single writer, or PostgreSQL's connection pool; the ledger's statements on it.
        var store = configuration.GetSection(StoreOptions.Section).Get<StoreOptions>() ?? new StoreOptions();
        if (IsPostgres(store))
        {
            services.AddSingleton(provider => Npgsql.NpgsqlDataSource.Create(provider.GetRequiredService<StoreConnection>().ConnectionString));
            services.AddSingleton<ILedgerStore, Postgres.PostgresLedgerStore>();
        }
        else
        {
            services.AddSingleton<Database>();
            services.AddSingleton<ILedgerStore, Sqlite.SqliteLedgerStore>();
        }

        // Encryption keys for API keys and upstream keys live beside the database, never in it.
        var keyRing = new DirectoryInfo(Path.Combine(Keys.KeySecrets.SecretsDirectory(store), "data-protection"));
        services.AddDataProtection().PersistKeysToFileSystem(keyRing).SetApplicationName("TokenPool");
        return services;
    }

    /// <summary>
    /// Whether the configuration puts the store on PostgreSQL. An unreadable connection string counts as not, here: it is
    /// reported, with what to write instead, when the store is first opened.
    /// </summary>
    public static bool IsPostgres(StoreOptions store)
    {
        try
        {
            return store.ResolveConnection().Provider == StoreProvider.Postgres;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// Creates the data directory and database on first use and applies any pending migrations (unless
    /// <paramref name="migrate"/> is false: then a database that needs one is refused with what to run), so that an
    /// upgrade keeps its data. A new database gets the default model catalogue. Returns the migrations applied.
    /// </summary>
    public static async Task<IReadOnlyList<string>> InitializeStoreAsync(this IServiceProvider services, CancellationToken cancellationToken, bool migrate = true)
    {
        var store = services.GetRequiredService<IOptions<StoreOptions>>().Value;
        DataDirectoryPermissions.RestrictNewFiles();
        Directory.CreateDirectory(store.FullDataDirectory);
        var secrets = store.FullSecretsDirectory;
        Directory.CreateDirectory(secrets);
        DataDirectoryPermissions.Restrict(store.FullDataDirectory);
        DataDirectoryPermissions.Restrict(secrets);

        var connection = services.GetRequiredService<StoreConnection>();
        if (connection.Provider == StoreProvider.Sqlite)
        {
            Database.EnableWriteAheadLog(connection.ConnectionString);
        }

        var dbFactory = services.GetRequiredService<IDbContextFactory<TokenPoolDb>>();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        List<string> pending;
        try
        {
            pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        }
        catch (System.Data.Common.DbException ex)
        {
            // Npgsql's and SQLite's messages name the host or file and the reason, never the password.
            throw new StoreNotReadyException($"TokenPool could not open the {connection.Describe()}: {ex.Message}");
        }

        if (pending.Count > 0 && !migrate)
        {
            throw new StoreNotReadyException(
                $"The {connection.Describe()} needs {pending.Count} migration(s) ({string.Join(", ", pending)}). "
                + "Run `tokenpool migrate` with the same settings, or start without --no-migrate.");
        }

        var isNew = !(await db.Database.GetAppliedMigrationsAsync(cancellationToken)).Any();
        if (pending.Count > 0)
        {
            // EF Core takes a lock for the migration, so instances starting together apply each migration once.
            await db.Database.MigrateAsync(cancellationToken);
        }

        if (isNew && !await db.ModelPrices.AnyAsync(cancellationToken))
        {
            db.ModelPrices.AddRange(PriceCatalog.DefaultRows(DateTime.UtcNow));
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                // Another instance starting at the same moment may have written the catalogue first.
                db.ChangeTracker.Clear();
                if (!await db.ModelPrices.AsNoTracking().AnyAsync(cancellationToken))
                {
                    throw;
                }
            }
        }

        return pending;
    }
}

/// <summary>The store cannot be used as it is (a migration is due and migrating was turned off).</summary>
internal sealed class StoreNotReadyException(string message) : Exception(message);
