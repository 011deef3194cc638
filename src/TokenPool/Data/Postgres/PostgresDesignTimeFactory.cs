using Microsoft.EntityFrameworkCore.Design;

namespace TokenPool.Data.Postgres;

/// <summary>
/// Lets <c>dotnet ef migrations add --context PostgresTokenPoolDb</c> build the model without starting the app or a
/// server (adding a migration never connects).
/// </summary>
internal sealed class PostgresDesignTimeFactory : IDesignTimeDbContextFactory<PostgresTokenPoolDb>
{
    public PostgresTokenPoolDb CreateDbContext(string[] args) =>
        new(StoreEngines.Options<PostgresTokenPoolDb>(new StoreConnection(StoreProvider.Postgres, "Host=127.0.0.1;Database=tokenpool_design_time")));
}
