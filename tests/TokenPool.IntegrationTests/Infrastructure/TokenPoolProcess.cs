using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TokenPool.IntegrationTests.Infrastructure;

/// <summary>The real <c>tokenpool</c> binary as an operator runs it: CLI verbs, and <c>serve</c> as a child process.</summary>
internal sealed class TokenPoolProcess : IAsyncDisposable
{
    private readonly Process _process;

    private TokenPoolProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
    }

    public Uri Address { get; }

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "tokenpool.dll");

    /// <summary>Runs one CLI verb to completion (60 s at most) and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunCliAsync(string dataDirectory, params string[] arguments)
    {
        var start = Start([.. arguments, "--data", dataDirectory]);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start tokenpool.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"tokenpool {string.Join(' ', arguments)} did not finish in 60 seconds.");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts <c>tokenpool serve</c> on a free loopback port and waits (30 s at most) until it answers.</summary>
    public static async Task<TokenPoolProcess> StartServerAsync(string dataDirectory)
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }

        var address = new Uri($"http://127.0.0.1:{port}/");
        var process = Process.Start(Start(["serve", "--urls", address.ToString().TrimEnd('/'), "--data", dataDirectory]))
            ?? throw new InvalidOperationException("Could not start tokenpool serve.");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new TokenPoolProcess(process, address);
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"tokenpool serve exited with {process.ExitCode}.");
            }

            try
            {
                using var response = await http.GetAsync("healthz");
                if (response.IsSuccessStatusCode)
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

            await Task.Delay(100);
        }

        await server.DisposeAsync();
        throw new TimeoutException("tokenpool serve did not answer /healthz within 30 seconds.");
    }

    /// <summary>Kills the server at once (SIGKILL): no shutdown, no draining, as a crash or an OOM kill.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private static ProcessStartInfo Start(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment.Remove("TOKENPOOL_DATA");
        return start;
    }
}
