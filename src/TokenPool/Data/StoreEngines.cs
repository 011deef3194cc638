using Microsoft.EntityFrameworkCore;
using Npgsql;
using TokenPool.Data.Postgres;
using TokenPool.Data.Sqlite;

namespace TokenPool.Data;

/// <summary>EF Core set-up for each engine, in one place: which context type, which provider, which connection hooks.</summary>
internal static class StoreEngines
{
    public static DbContextOptions<T> Options<T>(StoreConnection connection, NpgsqlDataSource? dataSource = null)
        where T : TokenPoolDb
    {
        var builder = new DbContextOptionsBuilder<T>();
        var assembly = typeof(TokenPoolDb).Assembly.GetName().Name;
        if (connection.Provider == StoreProvider.Postgres)
        {
            if (dataSource is not null)
            {
                builder.UseNpgsql(dataSource, npgsql => npgsql.MigrationsAssembly(assembly));
            }
            else
            {
                builder.UseNpgsql(connection.ConnectionString, npgsql => npgsql.MigrationsAssembly(assembly));
            }
        }
        else
        {
            builder.UseSqlite(connection.ConnectionString, sqlite => sqlite.MigrationsAssembly(assembly))
                .AddInterceptors(SqlitePragmaInterceptor.Instance);
        }

        return builder.Options;
    }

    /// <summary>The factory the rest of TokenPool uses: it makes the engine's own context type.</summary>
    public static IDbContextFactory<TokenPoolDb> Factory(StoreConnection connection, NpgsqlDataSource? dataSource = null)
    {
        if (connection.Provider == StoreProvider.Postgres)
        {
            var options = Options<PostgresTokenPoolDb>(connection, dataSource);
            return new TokenPoolDbFactory(() => new PostgresTokenPoolDb(options));
        }

        var sqlite = Options<SqliteTokenPoolDb>(connection);
        return new TokenPoolDbFactory(() => new SqliteTokenPoolDb(sqlite));
    }

    private sealed class TokenPoolDbFactory(Func<TokenPoolDb> create) : IDbContextFactory<TokenPoolDb>
    {
        public TokenPoolDb CreateDbContext() => create();
    }
}
