using System.ComponentModel.DataAnnotations;

namespace TokenPool.Data;

/// <summary>Where TokenPool keeps its data. Bound from the <c>Store</c> section; <c>--data</c> and <c>TOKENPOOL_DATA</c> set the directory.</summary>
internal sealed class StoreOptions
{
    public const string Section = "Store";

    /// <summary>Holds the SQLite database and the deployment's secrets (data-protection keys, key-hash secret).</summary>
    [Required]
    public string DataDirectory { get; set; } = "data";

    /// <summary>Overrides the SQLite file inside <see cref="DataDirectory"/>.</summary>
    public string? ConnectionString { get; set; }

    public string FullDataDirectory => Path.GetFullPath(DataDirectory);

    public string SqliteConnectionString =>
        ConnectionString ?? $"Data Source={Path.Combine(FullDataDirectory, "tokenpool.db")};Default Timeout=30;Pooling=True";
}
