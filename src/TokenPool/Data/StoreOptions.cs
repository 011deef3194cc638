using System.ComponentModel.DataAnnotations;

namespace TokenPool.Data;

/// <summary>
/// Where TokenPool keeps its data. Bound from the <c>Store</c> section; <c>--data</c> and <c>TOKENPOOL_DATA</c> set the
/// directory, <c>--database</c> and <c>TOKENPOOL_DATABASE</c> the database.
/// </summary>
internal sealed class StoreOptions
{
    public const string Section = "Store";

    /// <summary>Holds the SQLite database (unless <see cref="Database"/> names another) and, by default, the secrets.</summary>
    [Required]
    public string DataDirectory { get; set; } = "data";

    /// <summary>
    /// The database: an Npgsql connection string or <c>postgres://</c> URL selects PostgreSQL, a SQLite connection
    /// string selects that file. Empty: <c>tokenpool.db</c> in <see cref="DataDirectory"/>.
    /// </summary>
    public string? Database { get; set; }

    /// <summary>Overrides the SQLite file inside <see cref="DataDirectory"/> (the older name of <see cref="Database"/>).</summary>
    public string? ConnectionString { get; set; }

    public string FullDataDirectory => Path.GetFullPath(DataDirectory);

    /// <summary>The database this deployment uses; throws <see cref="ArgumentException"/> saying what to write when it is unreadable.</summary>
    public StoreConnection ResolveConnection() => string.IsNullOrWhiteSpace(Database)
        ? new StoreConnection(StoreProvider.Sqlite, ConnectionString ?? DefaultSqliteConnectionString)
        : StoreConnection.Parse(Database);

    /// <summary>The SQLite file inside the data directory.</summary>
    public string DefaultSqliteConnectionString =>
        $"Data Source={Path.Combine(FullDataDirectory, "tokenpool.db")};Default Timeout=30;Pooling=True";
}
