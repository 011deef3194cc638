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

        var connection = services.GetRequiredService<StoreConnection>();
        if (connection.Provider == StoreProvider.Sqlite)
        {
            Database.EnableWriteAheadLog(connection.ConnectionString);
        }

        var dbFactory = services.GetRequiredService<IDbContextFactory<TokenPoolDb>>();
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var isNew = !(await db.Database.GetAppliedMigrationsAsync(cancellationToken)).Any();
        await db.Database.MigrateAsync(cancellationToken);
        if (isNew && !await db.ModelPrices.AnyAsync(cancellationToken))
        {
            db.ModelPrices.AddRange(PriceCatalog.DefaultRows(DateTime.UtcNow));
            await db.SaveChangesAsync(cancellationToken);
        }
    }
}
