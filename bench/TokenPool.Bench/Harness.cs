using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace TokenPool.Bench;

/// <summary>Entry point of the orchestrator: starts everything, runs the six measurements, reports, cleans up.</summary>
internal static class Harness
{
    public static async Task<int> RunAsync(Args args)
    {
        using var run = new BenchRun(BenchOptions.From(args));
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            run.Dispose();
            Environment.Exit(130);
        };
        return await run.ExecuteAsync();
    }
}

/// <summary>What one run does; <c>--quick</c> trades spread for time.</summary>
internal sealed record BenchOptions(
    string Root, string TokenPoolDll, string? Results, string Command, int Rounds, int LatencyRequests, double CpuRoundSeconds,
    int PacedStreams, int OpenStreams, double P99BoundMs, int[] Levels, double LevelSeconds, int Concurrency, int ProfileSeconds, string Profiler, string[]? Only,
    string? CompareDll)
{
    public static BenchOptions From(Args args)
    {
        var root = args.Get("root") ?? Directory.GetCurrentDirectory();
        var quick = args.Flag("quick");
        return new BenchOptions(
            Root: root,
            TokenPoolDll: args.Get("tokenpool") ?? Path.Combine(root, ".build/release/tokenpool.dll"),
            Results: args.Flag("no-record") ? null : args.Get("results") ?? Path.Combine(root, "bench/RESULTS.md"),
            Command: args.Get("command") ?? "./bench/run",
            Rounds: args.Int("rounds", quick ? 3 : 7),
            LatencyRequests: args.Int("latency-requests", quick ? 200 : 500),
            CpuRoundSeconds: args.Int("cpu-seconds", quick ? 2 : 3),
            PacedStreams: args.Int("paced-streams", 2),
            OpenStreams: args.Int("streams", 1000),
            P99BoundMs: args.Double("p99-bound-ms", 10),
            Levels: quick ? [1, 4, 16, 64] : [1, 2, 4, 8, 16, 32, 64],
            LevelSeconds: quick ? 1 : 2,
            Concurrency: args.Int("concurrency", 16),
            ProfileSeconds: args.Int("profile", 0),
            Profiler: args.Get("profiler") ?? "perf",
            Only: args.Get("only")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            CompareDll: args.Get("compare"));
    }
}

internal sealed partial class BenchRun(BenchOptions options) : IDisposable
{
    private const double UpstreamSaturation = 0.85;
    private const double LoadGeneratorSaturation = 0.90;

    private readonly string _dir = Directory.CreateTempSubdirectory("tokenpool-bench-").FullName;
    private readonly List<Service> _services = [];
    private readonly StringBuilder _report = new();
    private readonly List<string> _refusals = [];
    private readonly List<(string Target, bool Pass, string Detail)> _verdicts = [];
    private readonly byte[] _fixedBody = Canned.RequestBody(Canned.FixedModel);
    private readonly byte[] _pacedBody = Canned.RequestBody(Canned.PacedModel);
    private string _wrk = "";
    private Service _fixedUpstream = null!;
    private Service _pacedUpstream = null!;
    private bool _nginxUpstream;
    private Target _direct = null!;
    private Target _pacedDirect = null!;
    private readonly List<Target> _gateways = [];
    private Target _tokenPool = null!;

    /// <summary><c>--compare other.dll</c>: a second TokenPool build, measured in the same CPU rounds.</summary>
    private Target? _tokenPoolB;
    private Target _yarp = null!;

    public async Task<int> ExecuteAsync()
    {
        var started = DateTime.UtcNow;
        var loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        _wrk = Wrk.Find() ?? throw new InvalidOperationException("wrk is not installed (bench/run installs it with apt-get)");
        await StartAsync();
        await WarmUpAsync();
        if (options.ProfileSeconds > 0)
        {
            await ProfileAsync();
            return 0;
        }

        Line("");
        var only = options.Only;
        if (only is null || only.Contains("cpu"))
        {
            await CpuAsync();
        }

        if (only is null || only.Contains("latency"))
        {
            await LatencyAsync();
        }

        if (only is null || only.Contains("paced"))
        {
            await PacedAsync();
        }

        if (only is null || only.Contains("memory"))
        {
            await MemoryAsync();
        }

        if (only is null || only.Contains("throughput"))
        {
            await ThroughputAsync();
        }

        if (only is null || only.Contains("footprint"))
        {
            await FootprintAsync();
        }

        var loadAfter = File.ReadAllText("/proc/loadavg").Trim();
        var header = new StringBuilder();
        header.AppendLine(CultureInfo.InvariantCulture, $"### {started:yyyy-MM-dd HH:mm} UTC, commit {Commit()}");
        header.AppendLine();
        header.AppendLine(CultureInfo.InvariantCulture, $"- Command: `{options.Command}`");
        header.AppendLine(CultureInfo.InvariantCulture, $"- Machine: {Machine()}");
        header.AppendLine(CultureInfo.InvariantCulture, $"- Load average before / after: {loadBefore} / {loadAfter} (other work on the machine shares these cores)");
        header.AppendLine(CultureInfo.InvariantCulture, $"- Upstream: {(_nginxUpstream ? "nginx, one worker, canned SSE" : "Kestrel fixed-reply app (nginx absent)")}; paced and open streams: Kestrel paced app. Load: wrk -t1 (CPU, throughput), the harness's own HttpClient (latency, paced, memory).");
        header.AppendLine(CultureInfo.InvariantCulture, $"- Duration: {(DateTime.UtcNow - started).TotalSeconds:0} s");
        header.AppendLine();
        var verdicts = new StringBuilder();
        verdicts.AppendLine();
        verdicts.AppendLine("**Targets (TokenPool, every feature on)**");
        verdicts.AppendLine();
        foreach (var (target, pass, detail) in _verdicts)
        {
            verdicts.AppendLine(CultureInfo.InvariantCulture, $"- {(pass ? "PASS" : "FAIL")} {target}: {detail}");
        }

        if (_refusals.Count > 0)
        {
            verdicts.AppendLine();
            verdicts.AppendLine("**Refused** (these figures are not valid):");
            foreach (var refusal in _refusals)
            {
                verdicts.AppendLine(CultureInfo.InvariantCulture, $"- {refusal}");
            }
        }

        var text = header.ToString() + _report + verdicts;
        Console.WriteLine();
        Console.WriteLine(verdicts.ToString());
        if (options.Results is { } results)
        {
            Record(results, text);
            Console.WriteLine($"Recorded in {Path.GetRelativePath(options.Root, results)}.");
        }

        return _refusals.Count > 0 ? 2 : 0;
    }

    private async Task StartAsync()
    {
        var self = Environment.ProcessPath!;
        var selfArgs = self.EndsWith("dotnet", StringComparison.Ordinal) ? new[] { typeof(BenchRun).Assembly.Location } : [];
        var pacedPort = Service.FreePort();
        _pacedUpstream = Track(Service.Start("paced upstream", self, [.. selfArgs, "upstream", "--urls", $"http://127.0.0.1:{pacedPort}"],
            $"http://127.0.0.1:{pacedPort}", Log("paced-upstream")));
        await _pacedUpstream.WaitReadyAsync("/ready", TimeSpan.FromSeconds(30));

        var nginx = Nginx.Find();
        _nginxUpstream = nginx is not null;
        if (nginx is not null)
        {
            var port = Service.FreePort();
            var config = Path.Combine(_dir, "upstream.conf");
            await File.WriteAllTextAsync(config, Nginx.UpstreamConfig(_dir, port));
            _fixedUpstream = Track(Service.Start("nginx upstream", nginx, ["-c", config, "-p", _dir], $"http://127.0.0.1:{port}", Log("nginx-upstream")));
            await _fixedUpstream.WaitReadyAsync("/ready", TimeSpan.FromSeconds(15));
            _fixedUpstream.AdoptChildren();
        }
        else
        {
            _fixedUpstream = _pacedUpstream;
        }

        _direct = new Target("direct", _fixedUpstream.Url, null, null);
        _pacedDirect = new Target("direct", _pacedUpstream.Url, null, null);

        var yarpPort = Service.FreePort();
        var yarp = Track(Service.Start("plain YARP", self,
            [.. selfArgs, "yarp", "--urls", $"http://127.0.0.1:{yarpPort}", "--fixed", _fixedUpstream.Url, "--paced", _pacedUpstream.Url],
            $"http://127.0.0.1:{yarpPort}", Log("yarp"), PerfMapEnvironment()));
        await yarp.WaitReadyAsync("/ready", TimeSpan.FromSeconds(30));
        _yarp = new Target("plain YARP", yarp.Url, null, yarp);
        _gateways.Add(_yarp);

        if (nginx is not null)
        {
            var port = Service.FreePort();
            var config = Path.Combine(_dir, "proxy.conf");
            await File.WriteAllTextAsync(config, Nginx.ProxyConfig(_dir, port, new Uri(_fixedUpstream.Url).Port, pacedPort));
            var proxy = Track(Service.Start("nginx proxy", nginx, ["-c", config, "-p", _dir], $"http://127.0.0.1:{port}", Log("nginx-proxy")));
            await proxy.WaitReadyAsync("/ready", TimeSpan.FromSeconds(15));
            proxy.AdoptChildren();
            _gateways.Add(new Target("nginx proxy", proxy.Url, null, proxy));
        }

        _tokenPool = await StartTokenPoolAsync("TokenPool", options.TokenPoolDll);
        _gateways.Add(_tokenPool);
        if (options.CompareDll is { } other)
        {
            _tokenPoolB = await StartTokenPoolAsync("TokenPool B", other);
            _gateways.Add(_tokenPoolB);
        }

        Line($"Started: upstream {_fixedUpstream.Url}, paced upstream {_pacedUpstream.Url}, "
            + string.Join(", ", _gateways.Select(g => $"{g.Name} {g.Url} (pid {g.Process!.Pid})")) + $"; logs in {_dir}");
    }

    private async Task<Target> StartTokenPoolAsync(string name, string dll)
    {
        var data = Path.Combine(_dir, name.Replace(' ', '-').ToLowerInvariant() + "-data");
        Directory.CreateDirectory(data);
        var environment = new Dictionary<string, string> { ["TOKENPOOL_DATA"] = data, ["DOTNET_NOLOGO"] = "1" };
        await CliAsync(environment, "model", "set", "--model", Canned.FixedModel, "--input", "1", "--output", "4");
        await CliAsync(environment, "model", "set", "--model", Canned.PacedModel, "--input", "1", "--output", "4");
        await CliAsync(environment, "channel", "add", "--name", "bench-fixed", "--base-url", _fixedUpstream.Url + "/v1",
            "--api-key", "sk-bench-upstream-fixed-0000", "--models", Canned.FixedModel, "--wire", "responses");
        await CliAsync(environment, "channel", "add", "--name", "bench-paced", "--base-url", _pacedUpstream.Url + "/v1",
            "--api-key", "sk-bench-upstream-paced-0000", "--models", Canned.PacedModel, "--wire", "responses");
        await CliAsync(environment, "user", "add", "--email", "bench@example.com", "--password", "bench password 1234", "--credit", "1000000");
        var key = (await CliAsync(environment, "key", "create", "--email", "bench@example.com", "--name", "bench")).Trim();
        foreach (var (variable, value) in PerfMapEnvironment())
        {
            environment[variable] = value;
        }

        var port = Service.FreePort();
        var service = Track(Service.Start(name, "dotnet", [dll, "serve", "--urls", $"http://127.0.0.1:{port}", "--data", data],
            $"http://127.0.0.1:{port}", Log(name.Replace(' ', '-').ToLowerInvariant()), environment));
        await service.WaitReadyAsync("/readyz", TimeSpan.FromSeconds(60));
        return new Target(name, service.Url, key, service);
    }

    /// <summary>Under <c>--profile N</c> with perf, a .NET process writes the map perf resolves JIT-compiled frames with.</summary>
    private Dictionary<string, string> PerfMapEnvironment() => options.ProfileSeconds > 0 && options.Profiler == "perf"
        ? new() { ["DOTNET_PerfMapEnabled"] = "1", ["DOTNET_EnableWriteXorExecute"] = "0" }
        : [];

    private async Task<string> CliAsync(Dictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(options.TokenPoolDll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"tokenpool {arguments[0]} {arguments[1]} failed: {error}");
        }

        return await output;
    }

    /// <summary>
    /// Runs load through every target until the gateway's CPU per request settles: the JIT's tiering keeps
    /// compiling for 10 to 20 seconds under load on a busy machine, and that must not count as the gateway's cost.
    /// </summary>
    private async Task WarmUpAsync()
    {
        foreach (var target in _gateways.Prepend(_direct))
        {
            var clock = Stopwatch.StartNew();
            double previous = double.NaN;
            for (var step = 0; step < 12; step++)
            {
                var cpu = target.Process?.CpuSeconds() ?? 0;
                var result = await Wrk.RunAsync(_wrk, Script(target, paced: false), target.Url + "/v1/responses", options.Concurrency, 3);
                if (result.Failures > 0 || result.Good == 0)
                {
                    throw new InvalidOperationException($"warm-up through {target.Name} failed: {result.Failures} of {result.Requests} requests failed; see logs in {_dir}");
                }

                var perRequest = ((target.Process?.CpuSeconds() ?? 0) - cpu) / result.Good;
                if (target.Process is null || (step >= 2 && Math.Abs(perRequest - previous) <= 0.1 * previous))
                {
                    break;
                }

                previous = perRequest;
            }

            using var client = new Client(target);
            var buffer = new byte[64 * 1024];
            for (var i = 0; i < 200; i++)
            {
                await client.TimeOneAsync(_fixedBody, buffer, CancellationToken.None);
            }

            using var paced = new Client(target == _direct ? _pacedDirect : target);
            await paced.EventTimesAsync(_pacedBody, "paced", null, CancellationToken.None);
            Line($"Warmed up {target.Name} in {clock.Elapsed.TotalSeconds:0} s");
        }
    }

    /// <summary>
    /// <c>--profile N</c>: instead of measuring, profiles TokenPool for N seconds under the CPU measurement's
    /// load and leaves the result in bench/.work: with <c>--profiler perf</c> (the default when perf is
    /// installed) a perf.data of native and JIT-compiled frames, and yarp.perf.data of plain YARP under the same
    /// load just before; with <c>--profiler dotnet-trace</c> a sampled thread-time trace (nettrace and speedscope).
    /// </summary>
    private async Task ProfileAsync()
    {
        if (options.Profiler == "counts")
        {
            await CountAsync();
            return;
        }

        var work = Path.Combine(options.Root, "bench/.work");
        Directory.CreateDirectory(work);
        var perf = new[] { "/usr/bin/perf", "/usr/local/bin/perf" }.FirstOrDefault(File.Exists);
        var useTrace = options.Profiler == "dotnet-trace" || perf is null;
        if (!useTrace)
        {
            // Plain YARP first, under the same load, so the two profiles can be set side by side.
            await ProfileOneAsync(_yarp, perf!, work, "yarp.perf.data");
        }

        await ProfileOneAsync(_tokenPool, useTrace ? null : perf, work, "perf.data");
    }

    private async Task ProfileOneAsync(Target target, string? perf, string work, string output)
    {
        var pid = target.Process!.Pid.ToString(CultureInfo.InvariantCulture);
        ProcessStartInfo start;
        if (perf is null)
        {
            var tool = new[] { Environment.GetEnvironmentVariable("DOTNET_TRACE"), "/tmp/dtools/dotnet-trace",
                Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet/tools/dotnet-trace") }
                .FirstOrDefault(p => p is not null && File.Exists(p))
                ?? throw new InvalidOperationException("dotnet-trace not found: dotnet tool install --tool-path /tmp/dtools dotnet-trace");
            start = new ProcessStartInfo(tool, ["collect", "-p", pid, "--profile", "dotnet-sampled-thread-time",
                "--duration", string.Create(CultureInfo.InvariantCulture, $"00:00:00:{options.ProfileSeconds:00}"),
                "--format", "Speedscope", "-o", Path.Combine(work, "tokenpool.nettrace")]) { UseShellExecute = false };
        }
        else
        {
            start = new ProcessStartInfo(perf, ["record", "-F", "999", "-g", "-p", pid, "-o", Path.Combine(work, output),
                "--", "sleep", options.ProfileSeconds.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false };
        }

        var load = Wrk.RunAsync(_wrk, Script(target, paced: false), target.Url + "/v1/responses", options.Concurrency, options.ProfileSeconds + 4);
        await Task.Delay(1000);
        using (var profiler = Process.Start(start)!)
        {
            await profiler.WaitForExitAsync();
        }

        if (perf is not null)
        {
            File.Copy($"/tmp/perf-{pid}.map", Path.Combine(work, $"perf-{pid}.map"), overwrite: true);
        }

        var result = await load;
        Line($"Profiled {target.Name} (pid {pid}) {options.ProfileSeconds} s under {result.RequestsPerSecond:0} req/s ({result.Failures} failed); output in {work}"
            + (perf is null ? "" : $"; read it with: perf report -i {work}/{output} --no-children --sort dso,sym"));
    }

    /// <summary>
    /// <c>--profiler counts</c>: for plain YARP, then TokenPool, each under the CPU measurement's load for N seconds,
    /// counts with <c>perf stat</c> the system calls, context switches and CPU time of the process, and prints them
    /// per request. Counts are steadier than timings on a shared machine, so a change's effect on them shows in one run.
    /// </summary>
    private async Task CountAsync()
    {
        var perf = new[] { "/usr/bin/perf", "/usr/local/bin/perf" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("--profiler counts needs perf (apt-get install linux-perf).");
        foreach (var target in new[] { _yarp, _tokenPool, _yarp, _tokenPool })
        {
            var pid = target.Process!.Pid.ToString(CultureInfo.InvariantCulture);
            var output = Path.Combine(_dir, "counts.csv");
            var start = new ProcessStartInfo(perf, ["stat", "-x", ",", "-o", output, "-e", "raw_syscalls:sys_enter,context-switches,task-clock",
                "-p", pid, "--", "sleep", options.ProfileSeconds.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false };
            var load = Wrk.RunAsync(_wrk, Script(target, paced: false), target.Url + "/v1/responses", options.Concurrency, options.ProfileSeconds + 2);
            await Task.Delay(1000);
            using (var counter = Process.Start(start)!)
            {
                await counter.WaitForExitAsync();
            }

            var result = await load;
            var requests = result.RequestsPerSecond * options.ProfileSeconds;
            var counts = File.ReadAllLines(output).Select(line => line.Split(','))
                .Where(fields => fields.Length > 2 && double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                .ToDictionary(fields => fields[2], fields => double.Parse(fields[0], CultureInfo.InvariantCulture));
            Line(string.Create(CultureInfo.InvariantCulture,
                $"{target.Name}: {result.RequestsPerSecond:0} req/s; per request {counts.GetValueOrDefault("raw_syscalls:sys_enter") / requests:0.00} system calls, "
                + $"{counts.GetValueOrDefault("context-switches") / requests:0.00} context switches, {counts.GetValueOrDefault("task-clock") * 1000 / requests:0.0} µs CPU ({result.Failures} failed)"));
        }
    }

    private string Script(Target target, bool paced) =>
        Wrk.WriteScript(_dir, $"{target.Name.Replace(' ', '-')}{(paced ? "-paced" : "")}", paced ? _pacedBody : _fixedBody, target.Key, paced ? "paced" : null);

    private string Log(string name) => Path.Combine(_dir, name + ".log");

    private Service Track(Service service)
    {
        _services.Add(service);
        return service;
    }

    private void Line(string text)
    {
        Console.WriteLine(text);
    }

    private void Report(string text)
    {
        Console.WriteLine(text);
        _report.AppendLine(text);
    }

    private void Verdict(string target, bool pass, string detail) => _verdicts.Add((target, pass, detail));

    private void Refuse(string reason)
    {
        _refusals.Add(reason);
        Console.WriteLine("REFUSED: " + reason);
    }

    private string Commit()
    {
        try
        {
            var start = new ProcessStartInfo("git", ["-C", options.Root, "rev-parse", "--short", "HEAD"]) { RedirectStandardOutput = true };
            using var git = Process.Start(start)!;
            var hash = git.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            var status = new ProcessStartInfo("git", ["-C", options.Root, "status", "--porcelain", "--", "src", "bench/TokenPool.Bench"]) { RedirectStandardOutput = true };
            using var dirty = Process.Start(status)!;
            var changes = dirty.StandardOutput.ReadToEnd().Trim();
            dirty.WaitForExit();
            return changes.Length > 0 ? hash + " (with uncommitted changes)" : hash;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }

    private static string Machine()
    {
        var cpu = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memory = File.ReadLines("/proc/meminfo").First().Split(':', 2)[1].Trim();
        return $"{Environment.ProcessorCount} cores, {cpu}, {memory} RAM, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}";
    }

    private static void Record(string path, string run)
    {
        const string Heading = "## Gateway overhead";
        var text = File.Exists(path) ? File.ReadAllText(path) : "# Benchmark results\n\nFigures from `bench/run`, newest last in each section. Runs share the machine with other work; compare ratios from the same run, not absolute figures across runs.\n";
        var start = text.IndexOf(Heading + "\n", StringComparison.Ordinal);
        if (start < 0)
        {
            text = text.TrimEnd('\n') + "\n\n" + Heading + "\n\nTokenPool (every feature on) against the upstream directly, a plain YARP proxy and nginx, in one run: `./bench/run`.\n";
            start = text.IndexOf(Heading + "\n", StringComparison.Ordinal);
        }

        var next = text.IndexOf("\n## ", start + Heading.Length, StringComparison.Ordinal);
        var insertAt = next < 0 ? text.Length : next + 1;
        var before = text[..insertAt].TrimEnd('\n') + "\n\n";
        var after = next < 0 ? "" : "\n" + text[insertAt..];
        File.WriteAllText(path, before + run.TrimEnd('\n') + "\n" + after);
    }

    public void Dispose()
    {
        foreach (var service in Enumerable.Reverse(_services))
        {
            service.Dispose();
        }

        _services.Clear();
    }
}
