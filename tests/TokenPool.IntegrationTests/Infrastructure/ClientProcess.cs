using System.Diagnostics;

namespace TokenPool.IntegrationTests.Infrastructure;

/// <summary>The outcome of running a real client binary.</summary>
internal sealed record ClientRun(int ExitCode, string Stdout, string Stderr, bool TimedOut)
{
    public override string ToString() => $"exit {ExitCode}{(TimedOut ? " (timed out)" : "")}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Runs the pinned Codex CLI and OpenCode (installed by the test command from tests/clients) in a
/// throw-away HOME, so that no configuration of the machine is read or changed.
/// </summary>
internal static class ClientProcess
{
    public static string ClientsDirectory =>
        Environment.GetEnvironmentVariable("TOKENPOOL_TEST_CLIENTS") is { Length: > 0 } dir
            ? dir
            : Path.Combine(RepositoryRoot, "tests", "clients", "node_modules", ".bin");

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TokenPool.slnx")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("The repository root (TokenPool.slnx) was not found above the test binaries.");
        }
    }

    public static string Binary(string name)
    {
        var path = Path.Combine(ClientsDirectory, name);
        return File.Exists(path)
            ? path
            : throw new InvalidOperationException($"{name} is not installed at {path}. Run the README's test command (./run-tests), which installs the pinned clients.");
    }

    public static async Task<ClientRun> RunAsync(string binary, IEnumerable<string> arguments, string home, string workingDirectory, IDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(binary)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // A clean environment: nothing of the machine's own OpenAI or proxy settings leaks in.
        start.Environment.Clear();
        start.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        start.Environment["HOME"] = home;
        start.Environment["XDG_CONFIG_HOME"] = Path.Combine(home, ".config");
        start.Environment["XDG_DATA_HOME"] = Path.Combine(home, ".local", "share");
        start.Environment["XDG_CACHE_HOME"] = Path.Combine(home, ".cache");
        start.Environment["XDG_STATE_HOME"] = Path.Combine(home, ".local", "state");
        start.Environment["TERM"] = "dumb";
        start.Environment["NO_COLOR"] = "1";
        start.Environment["NO_PROXY"] = "127.0.0.1,localhost,::1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {binary}.");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        var timedOut = false;
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        return new ClientRun(process.ExitCode, await stdout, await stderr, timedOut);
    }
}
