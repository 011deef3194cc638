using System.Net;
using TokenPool.IntegrationTests.Infrastructure;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Hosting;

/// <summary>
/// The data directory holds emails, password hashes and the deployment's secrets: it and every file in it, the
/// database's write-ahead log and shared-memory files included, are for the server's user only (0700 and 0600), also
/// when an older version left them readable to every local user.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DataDirectoryPermissionsTests
{
    private const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public async Task EveryFileTheServerAndTheCliKeep_IsForTheServersUserOnly()
    {
        var root = Directory.CreateTempSubdirectory("tokenpool-modes-").FullName;
        var data = Path.Combine(root, "data");
        try
        {
            Assert.Equal(0, (await ServerProcess.CliAsync(data, "user", "add", "--email", "modes@example.com", "--password", "correct horse battery staple", "--credit", "1")).ExitCode);
            var key = (await ServerProcess.CliAsync(data, "key", "create", "--email", "modes@example.com")).Stdout.Trim();

            // As an older version left them: the folder and the database readable by everyone.
            File.SetUnixFileMode(data, Folder | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            File.SetUnixFileMode(Path.Combine(data, "tokenpool.db"), Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

            await using var server = await ServerProcess.StartAsync(data);
            using var client = new HttpClient { BaseAddress = server.Address };
            client.DefaultRequestHeaders.Authorization = Bearer(key);
            using (var response = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.5","input":"hello"}""")))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            // While it runs: the write-ahead log and shared-memory files exist too.
            Assert.True(File.Exists(Path.Combine(data, "tokenpool.db-wal")));
            Assert.True(File.Exists(Path.Combine(data, "tokenpool.db-shm")));
            Assert.Equal(Folder, File.GetUnixFileMode(data));
            var entries = new DirectoryInfo(data).EnumerateFileSystemInfos("*", SearchOption.AllDirectories).ToList();
            Assert.Contains(entries, e => e.Name == "key-lookup.secret");
            Assert.Contains(entries, e => e.Name.StartsWith("key-", StringComparison.Ordinal) && e.Name.EndsWith(".xml", StringComparison.Ordinal));
            Assert.All(entries, e => Assert.True(e.UnixFileMode == (e is DirectoryInfo ? Folder : Private), $"{e.FullName} is {e.UnixFileMode}"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
