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
        services.AddDbContextFactory<TokenPoolDb>((provider, options) =>
            options.UseTokenPoolStore(provider.GetRequiredService<IOptions<StoreOptions>>().Value.SqliteConnectionString));
        services.AddSingleton<Database>();
        services.AddSingleton<ChangeFeed>();

        // Encryption keys for API keys and upstream keys live beside the database, never in it.
        var store = configuration.GetSection(StoreOptions.Section).Get<StoreOptions>() ?? new StoreOptions();
        var keyRing = new DirectoryInfo(Path.Combine(Keys.KeySecrets.SecretsDirectory(store), "data-protection"));
        services.AddDataProtection().PersistKeysToFileSystem(keyRing).SetApplicationName("TokenPool");
        return services;
    }

    /// <summary>
    /// Creates the data directory and database on first use and applies any pending migrations, so that
    /// an upgrade keeps its data. A new database gets the default model catalogue.
    /// </summary>
    public static async Task InitializeStoreAsync(this IServiceProvider services, CancellationToken cancellationToken)
    {
        var store = services.GetRequiredService<IOptions<StoreOptions>>().Value;
        Directory.CreateDirectory(store.FullDataDirectory);
        var secrets = Keys.KeySecrets.SecretsDirectory(store);
        Directory.CreateDirectory(secrets);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        if (store.ConnectionString is null)
        {
            Database.EnableWriteAheadLog(store.SqliteConnectionString);
        }

        var dbFactory = services.GetRequiredService<IDbContextFactory<TokenPoolDb>>();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var applied = (await db.Database.GetAppliedMigrationsAsync(cancellationToken)).ToHashSet(StringComparer.Ordinal);
        var isNew = applied.Count == 0;

        // Migrating compares the whole model with the last migration's snapshot even when nothing is pending, which
        // is most of a CLI verb's start-up time: only migrate when a migration is missing.
        if (db.Database.GetMigrations().Any(migration => !applied.Contains(migration)))
        {
            await db.Database.MigrateAsync(cancellationToken);
        }
        if (isNew && !await db.ModelPrices.AnyAsync(cancellationToken))
        {
            db.ModelPrices.AddRange(PriceCatalog.DefaultRows(DateTime.UtcNow));
            await db.SaveChangesAsync(cancellationToken);
        }
    }
}
