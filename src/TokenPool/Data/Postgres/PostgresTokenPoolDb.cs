using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace TokenPool.Data.Postgres;

/// <summary>
/// The store on PostgreSQL. Its migrations are in <c>Data/Postgres/Migrations</c>. TokenPool keeps every time in
/// UTC; dates are stored as <c>timestamp with time zone</c>, and a date read back from SQLite or made without a kind
/// is taken as UTC rather than refused.
/// </summary>
internal sealed class PostgresTokenPoolDb(DbContextOptions<PostgresTokenPoolDb> options) : TokenPoolDb(options)
{
    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        configurationBuilder.Properties<DateTime>().HaveConversion<UtcDateTimeConverter>();
        configurationBuilder.Properties<DateTime?>().HaveConversion<UtcDateTimeConverter>();
    }

    /// <summary>Marks every date as UTC on its way in and out.</summary>
    private sealed class UtcDateTimeConverter() : ValueConverter<DateTime, DateTime>(
        value => DateTime.SpecifyKind(value, DateTimeKind.Utc),
        value => DateTime.SpecifyKind(value, DateTimeKind.Utc));
}
