using System.Security.Cryptography;
using Npgsql;

namespace TokenPool.IntegrationTests.Infrastructure;

/// <summary>
/// The throwaway PostgreSQL server of the test run (started by <c>tests/servers.sh</c>, named by
/// <c>TOKENPOOL_TEST_POSTGRES</c>). Each test class makes its own database in it and drops it afterwards.
/// </summary>
internal static class TestPostgres
{
    public const string EnvironmentVariable = "TOKENPOOL_TEST_POSTGRES";

    /// <summary>The server's maintenance connection string; fails the test with how to start the server when it is not set.</summary>
    public static string ServerConnectionString =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{EnvironmentVariable} is not set. Run the suite with ./run-tests, or start the test servers first: "
                + "source tests/servers.sh && start_test_servers && dotnet test ...; stop_test_servers");

    /// <summary>Creates an empty database and returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync(string purpose)
    {
        var name = $"tp_{purpose.ToLowerInvariant()}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        await using (var connection = new NpgsqlConnection(ServerConnectionString))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = $"CREATE DATABASE \"{name}\"";
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(ServerConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Drops a database made by <see cref="CreateDatabaseAsync"/>, closing its connections first.</summary>
    public static async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(ServerConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = $"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)";
        await command.ExecuteNonQueryAsync();
    }
}
