using System.Runtime.InteropServices;

namespace TokenPool.Data;

/// <summary>
/// The data directory holds emails, password hashes, the database and the deployment's secrets: it and every file in
/// it are for the server's user only. <see cref="RestrictNewFiles"/> sets the process's file-creation mask so that
/// whatever TokenPool or a library creates from then on (the database, its write-ahead log and shared-memory files, the
/// data-protection keys, the lock file) is 0600 and every folder 0700; <see cref="Restrict"/> brings what an older
/// version left readable to others (0644) down to the same.
/// </summary>
internal static class DataDirectoryPermissions
{
    private const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode File = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Files and folders this process creates from now on are for its user only.</summary>
    public static void RestrictNewFiles()
    {
        if (!OperatingSystem.IsWindows())
        {
            _ = Umask(0b000_111_111);
        }
    }

    /// <summary>Makes <paramref name="directory"/> and everything in it (folders 0700, files 0600) the server's user's only.</summary>
    public static void Restrict(string directory)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(directory))
        {
            return;
        }

        System.IO.File.SetUnixFileMode(directory, Folder);
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", SearchOption.AllDirectories))
        {
            if (entry.LinkTarget is not null)
            {
                continue;
            }

            var wanted = entry is DirectoryInfo ? Folder : File;
            if ((entry.UnixFileMode & ~wanted) != 0)
            {
                entry.UnixFileMode &= wanted;
            }
        }
    }

    // A plain import: uint in, uint out, nothing to marshal (LibraryImport would need unsafe code in the project).
#pragma warning disable SYSLIB1054, CA5392
    [DllImport("libc", EntryPoint = "umask")]
    private static extern uint Umask(uint mask);
#pragma warning restore SYSLIB1054, CA5392
}
