using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Migrations;
using TokenPool.Data;
using TokenPool.Data.Postgres;
using TokenPool.Data.Sqlite;

namespace TokenPool.Tests.Data;

/// <summary>Each engine keeps its own migrations, and both follow the one model.</summary>
public sealed class StoreMigrationsTests
{
    [Fact]
    public void SqliteMigrations_CoverEveryChangeToTheModel()
    {
        using var db = new SqliteDesignTimeFactory().CreateDbContext([]);
        Assert.False(db.Database.HasPendingModelChanges(),
            "The model changed without a SQLite migration: dotnet ef migrations add <Name> --project src/TokenPool --context SqliteTokenPoolDb --output-dir Data/Sqlite/Migrations");
    }

    [Fact]
    public void PostgresMigrations_CoverEveryChangeToTheModel()
    {
        using var db = new PostgresDesignTimeFactory().CreateDbContext([]);
        Assert.False(db.Database.HasPendingModelChanges(),
            "The model changed without a PostgreSQL migration: dotnet ef migrations add <Name> --project src/TokenPool --context PostgresTokenPoolDb --output-dir Data/Postgres/Migrations");
    }

    [Fact]
    public void SqliteMigrations_KeepTheIdsExistingDeploymentsHaveRecorded()
    {
        using var db = new SqliteDesignTimeFactory().CreateDbContext([]);
        var ids = Microsoft.EntityFrameworkCore.Infrastructure.AccessorExtensions.GetService<IMigrationsAssembly>(db).Migrations.Keys.ToList();
        Assert.Equal(["20261122153431_Initial", "20261123040404_DropUsageRecordsCreatedAtIndex"], ids.Take(2));
    }

    [Fact]
    public void EachEngine_FindsOnlyItsOwnMigrations()
    {
        using var sqlite = new SqliteDesignTimeFactory().CreateDbContext([]);
        using var postgres = new PostgresDesignTimeFactory().CreateDbContext([]);
        var sqliteTypes = Microsoft.EntityFrameworkCore.Infrastructure.AccessorExtensions.GetService<IMigrationsAssembly>(sqlite).Migrations.Values.ToList();
        var postgresTypes = Microsoft.EntityFrameworkCore.Infrastructure.AccessorExtensions.GetService<IMigrationsAssembly>(postgres).Migrations.Values.ToList();
        Assert.NotEmpty(sqliteTypes);
        Assert.NotEmpty(postgresTypes);
        Assert.All(sqliteTypes, t => Assert.Equal("TokenPool.Data.Sqlite.Migrations", t.Namespace));
        Assert.All(postgresTypes, t => Assert.Equal("TokenPool.Data.Postgres.Migrations", t.Namespace));
    }

    [Theory]
    [InlineData("Host=db.example.com;Port=5433;Database=tokenpool;Username=tp;Password=secret", "Postgres")]
    [InlineData("Server=db.example.com;Database=tokenpool", "Postgres")]
    [InlineData("postgres://tp:s%40cret@db.example.com:5433/tokenpool?sslmode=require", "Postgres")]
    [InlineData("postgresql://db.example.com/tokenpool", "Postgres")]
    [InlineData("Data Source=/var/lib/tokenpool/tokenpool.db", "Sqlite")]
    [InlineData("/var/lib/tokenpool/tokenpool.db", "Sqlite")]
    public void ConnectionStrings_SelectTheirEngine(string value, string expected) =>
        Assert.Equal(Enum.Parse<StoreProvider>(expected), StoreConnection.Parse(value).Provider);

    [Fact]
    public void PostgresUrl_BecomesAnNpgsqlConnectionString()
    {
        var connection = StoreConnection.Parse("postgres://tp:s%40cret@db.example.com:5433/tokenpool?sslmode=require");
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connection.ConnectionString);
        Assert.Equal(("db.example.com", 5433, "tokenpool", "tp", "s@cret"), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
        Assert.Equal(Npgsql.SslMode.Require, builder.SslMode);
    }

    [Theory]
    [InlineData("tokenpool")]
    [InlineData("Host=db;Nonsense=1")]
    [InlineData("mysql://db/tokenpool")]
    public void UnreadableConnectionStrings_SayWhatToWrite(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => StoreConnection.Parse(value));
        Assert.Contains("Host=", error.Message, StringComparison.Ordinal);
        Assert.Contains("Data Source=", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DescribingAPostgresStore_NeverShowsItsPassword()
    {
        var text = StoreConnection.Parse("Host=db.example.com;Database=tokenpool;Username=tp;Password=hunter2-secret").Describe();
        Assert.Equal("PostgreSQL database \"tokenpool\" on db.example.com:5432", text);
        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
    }
}
