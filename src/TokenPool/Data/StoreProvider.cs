namespace TokenPool.Data;

/// <summary>The database engine the store runs on.</summary>
internal enum StoreProvider
{
    /// <summary>An embedded SQLite file in the data directory: one server, no set-up.</summary>
    Sqlite,

    /// <summary>A PostgreSQL server: any number of gateway instances share it.</summary>
    Postgres,
}
