using System.Data.Common;
using Npgsql;

namespace TokenPool.Data;

/// <summary>
/// Which engine the store runs on and how to reach it. An Npgsql connection string (<c>Host=db;Database=tokenpool;
/// Username=tokenpool;Password=…</c>) or a <c>postgres://user:password@host:port/database</c> URL selects PostgreSQL;
/// a SQLite one (<c>Data Source=path/tokenpool.db</c>) or a path ending in <c>.db</c> selects SQLite.
/// </summary>
internal sealed record StoreConnection(StoreProvider Provider, string ConnectionString)
{
    /// <summary>Reads a connection string as an operator writes it; throws <see cref="ArgumentException"/> with what to write instead.</summary>
    public static StoreConnection Parse(string value)
    {
        var text = value.Trim();
        if (text.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || text.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            return new StoreConnection(StoreProvider.Postgres, FromUrl(text));
        }

        if (!text.Contains('=', StringComparison.Ordinal) && text.EndsWith(".db", StringComparison.OrdinalIgnoreCase))
        {
            return new StoreConnection(StoreProvider.Sqlite, $"Data Source={Path.GetFullPath(text)};Default Timeout=30;Pooling=True");
        }

        var builder = new DbConnectionStringBuilder();
        try
        {
            builder.ConnectionString = text;
        }
        catch (ArgumentException)
        {
            throw new ArgumentException(Unreadable);
        }

        if (builder.ContainsKey("Host") || builder.ContainsKey("Server"))
        {
            try
            {
                return new StoreConnection(StoreProvider.Postgres, new NpgsqlConnectionStringBuilder(text).ConnectionString);
            }
            catch (ArgumentException ex)
            {
                throw new ArgumentException($"The PostgreSQL connection string is not valid: {ex.Message} {Unreadable}");
            }
        }

        if (builder.ContainsKey("Data Source") || builder.ContainsKey("DataSource") || builder.ContainsKey("Filename"))
        {
            return new StoreConnection(StoreProvider.Sqlite, text);
        }

        throw new ArgumentException(Unreadable);
    }

    /// <summary>Where the store is, for logs and messages: the host, port and database, or the file; never a password.</summary>
    public string Describe()
    {
        if (Provider == StoreProvider.Postgres)
        {
            var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
            return $"PostgreSQL database \"{builder.Database}\" on {builder.Host}:{builder.Port}";
        }

        var sqlite = new DbConnectionStringBuilder { ConnectionString = ConnectionString };
        return $"SQLite database {sqlite["Data Source"]}";
    }

    private const string Unreadable =
        "Give the database as an Npgsql connection string (Host=db.example.com;Port=5432;Database=tokenpool;Username=tokenpool;Password=...), "
        + "a postgres://user:password@host:5432/database URL, or a SQLite connection string (Data Source=/path/tokenpool.db).";

    private static string FromUrl(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || string.IsNullOrEmpty(url.Host))
        {
            throw new ArgumentException(Unreadable);
        }

        var builder = new NpgsqlConnectionStringBuilder { Host = url.Host, Port = url.Port > 0 ? url.Port : 5432 };
        var database = Uri.UnescapeDataString(url.AbsolutePath.Trim('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }

        if (url.UserInfo.Length > 0)
        {
            var parts = url.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
            {
                builder.Password = Uri.UnescapeDataString(parts[1]);
            }
        }

        foreach (var pair in url.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, setting) = pair.Split('=', 2) is [var n, var v] ? (Uri.UnescapeDataString(n), Uri.UnescapeDataString(v)) : (pair, "");
            try
            {
                builder[name.Replace('_', ' ')] = setting;
            }
            catch (ArgumentException)
            {
                throw new ArgumentException($"The PostgreSQL URL's setting \"{name}\" is not one Npgsql knows. {Unreadable}");
            }
        }

        return builder.ConnectionString;
    }
}
