using Microsoft.EntityFrameworkCore;

namespace TokenPool.Data.Sqlite;

/// <summary>The store on SQLite (the zero-set-up default). Its migrations are in <c>Data/Sqlite/Migrations</c>.</summary>
internal sealed class SqliteTokenPoolDb(DbContextOptions<SqliteTokenPoolDb> options) : TokenPoolDb(options);
