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

    /// <summary>
    /// The deployment's key material: the key-lookup secret and the data-protection key ring. Instances on several
    /// hosts each have their own data directory and share this folder (a mounted secret). Default: <c>secrets/</c> in
    /// <see cref="DataDirectory"/>.
    /// </summary>
    public string? SecretsDirectory { get; set; }

    /// <summary>A StackExchange.Redis configuration string (<c>redis.example.com:6379,password=…</c>); empty: no Redis.</summary>
    public string? Redis { get; set; }

    /// <summary>
    /// Seconds without a heartbeat after which a gateway instance counts as gone: another instance then releases its
    /// leases (requests it had in flight are charged nothing). Instances beat every few seconds.
    /// </summary>
    [Range(3, 3_600)]
    public int InstanceTimeoutSeconds { get; set; } = 15;

    /// <summary>Whether <c>serve</c> applies pending migrations on start (<c>--no-migrate</c> turns it off).</summary>
    public bool MigrateOnStart { get; set; } = true;

    public string FullDataDirectory => Path.GetFullPath(DataDirectory);

    public string FullSecretsDirectory => string.IsNullOrWhiteSpace(SecretsDirectory)
        ? Path.Combine(FullDataDirectory, "secrets")
        : Path.GetFullPath(SecretsDirectory);

    /// <summary>The database this deployment uses; throws <see cref="ArgumentException"/> saying what to write when it is unreadable.</summary>
    public StoreConnection ResolveConnection() => string.IsNullOrWhiteSpace(Database)
        ? new StoreConnection(StoreProvider.Sqlite, ConnectionString ?? DefaultSqliteConnectionString)
        : StoreConnection.Parse(Database);

    /// <summary>The SQLite file inside the data directory.</summary>
    public string DefaultSqliteConnectionString =>
        $"Data Source={Path.Combine(FullDataDirectory, "tokenpool.db")};Default Timeout=30;Pooling=True";
}
