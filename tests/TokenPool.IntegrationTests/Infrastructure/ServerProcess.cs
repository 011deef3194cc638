using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TokenPool.IntegrationTests.Infrastructure;

/// <summary>
/// The built <c>tokenpool</c> program run as its own process, exactly as an operator runs it:
/// <c>tokenpool serve</c> and the CLI verbs on the same data directory.
/// </summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output;

    private ServerProcess(Process process, StringBuilder output, Uri address, string dataDirectory)
    {
        _process = process;
        _output = output;
        Address = address;
        DataDirectory = dataDirectory;
    }

    public Uri Address { get; }

    public string DataDirectory { get; }

    public int ProcessId => _process.Id;

    /// <summary>The exit code once the server has exited.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>Everything the server wrote to stdout and stderr so far.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static string Program => Path.Combine(AppContext.BaseDirectory, "tokenpool.dll");

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Runs <c>tokenpool serve</c> on a free loopback port and waits until it answers /readyz.</summary>
    public static Task<ServerProcess> StartAsync(string dataDirectory, int? port = null) => StartAsync(dataDirectory, port, []);

    /// <summary>Runs <c>tokenpool serve</c> with more flags (e.g. <c>--database</c>) and waits until it answers /readyz.</summary>
    public static async Task<ServerProcess> StartAsync(string dataDirectory, int? port, IReadOnlyList<string> flags, IReadOnlyDictionary<string, string>? environment = null)
    {
        var address = new Uri($"http://127.0.0.1:{port ?? FreePort()}/");
        var start = Start(["serve", "--urls", address.ToString().TrimEnd('/'), "--data", dataDirectory, .. flags], environment);
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start tokenpool serve.");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new ServerProcess(process, output, address, dataDirectory);

        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"tokenpool serve exited with {process.ExitCode}:\n{server.Output}");
            }

            try
            {
                using var ready = await client.GetAsync("readyz");
                if (ready.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Not answering yet.
            }

            await Task.Delay(200);
        }

        await server.DisposeAsync();
        throw new TimeoutException($"tokenpool serve did not become ready within 60 s:\n{server.Output}");
    }

    /// <summary>Runs one CLI verb (e.g. <c>key create --email ...</c>) on a data directory, 60 s at most.</summary>
    public static Task<ClientRun> CliAsync(string dataDirectory, params string[] arguments) =>
        RunAsync(Start([.. arguments, "--data", dataDirectory]), arguments);

    /// <summary>Runs one CLI verb with these environment variables (e.g. <c>TOKENPOOL_DATA</c>) and no <c>--data</c>.</summary>
    public static Task<ClientRun> CliWithEnvironmentAsync(IReadOnlyDictionary<string, string> environment, params string[] arguments) =>
        RunAsync(Start(arguments, environment), arguments);

    /// <summary>Starts the program with these arguments without waiting for it; the caller kills it.</summary>
    public static Process Launch(params string[] arguments)
    {
        var process = Process.Start(Start(arguments)) ?? throw new InvalidOperationException("Could not start tokenpool.");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task<ClientRun> RunAsync(ProcessStartInfo start, string[] arguments)
    {
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start tokenpool.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"tokenpool {string.Join(' ', arguments)} did not finish in 60 seconds.");
        }

        return new ClientRun(process.ExitCode, await stdout, await stderr, false);
    }

    /// <summary>Stops the server as Ctrl+C or a service manager does (SIGTERM), and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            return;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
        await _process.WaitForExitAsync(cts.Token);
    }

    /// <summary>Kills the server at once (SIGKILL), as a crash or an out-of-memory kill would.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (OperationCanceledException)
        {
            await KillAsync();
        }

        _process.Dispose();
    }

    private static ProcessStartInfo Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Program);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("TOKENPOOL_DATA");
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return start;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }
}
