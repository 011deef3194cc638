using Microsoft.EntityFrameworkCore.Design;

namespace TokenPool.Data.Sqlite;

/// <summary>Lets <c>dotnet ef migrations add --context SqliteTokenPoolDb</c> build the model without starting the app.</summary>
internal sealed class SqliteDesignTimeFactory : IDesignTimeDbContextFactory<SqliteTokenPoolDb>
{
    public SqliteTokenPoolDb CreateDbContext(string[] args) =>
        new(StoreEngines.Options<SqliteTokenPoolDb>(new StoreConnection(StoreProvider.Sqlite, "Data Source=design-time.db")));
}
