using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace TokenPool.Bench;

/// <summary>A process the harness started (with its children, for nginx's workers), measured from /proc.</summary>
internal sealed partial class Service(string name, Process process, string url) : IDisposable
{
    private static readonly double TicksPerSecond = ClockTicks();
    private int[] _pids = [process.Id];

    public string Name { get; } = name;

    public string Url { get; } = url;

    public int Pid => process.Id;

    public bool HasExited => process.HasExited;

    public static Service Start(string name, string file, IEnumerable<string> arguments, string url, string logPath,
        IDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var gate = new Lock();
        process.OutputDataReceived += (_, e) => { lock (gate) { if (e.Data is not null) { log.WriteLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { lock (gate) { if (e.Data is not null) { log.WriteLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Service(name, process, url);
    }

    /// <summary>Includes the process's children from now on (nginx's workers are forked after start).</summary>
    public void AdoptChildren()
    {
        var children = new List<int> { process.Id };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && Stat(pid) is { } stat && stat.Parent == process.Id)
            {
                children.Add(pid);
            }
        }

        _pids = [.. children];
    }

    /// <summary>User plus system CPU seconds of the process and its adopted children.</summary>
    public double CpuSeconds() => _pids.Sum(pid => Stat(pid) is { } s ? (s.UserTicks + s.SystemTicks) / TicksPerSecond : 0);

    /// <summary>Resident memory in KiB (VmRSS), summed over the process and its adopted children.</summary>
    public long RssKb() => _pids.Sum(RssOf);

    public async Task WaitReadyAsync(string path, TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {process.ExitCode} while starting");
            }

            try
            {
                using var response = await client.GetAsync(new Uri(Url + path));
                if ((int)response.StatusCode < 500)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{Name} did not answer on {Url} within {timeout.TotalSeconds:0} s");
    }

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        process.Dispose();
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>CPU seconds (user + system) of every child this process has waited for, e.g. finished wrk runs.</summary>
    public static double ReapedChildrenCpuSeconds()
    {
        var usage = default(RUsage);
        return Native.getrusage(-1, ref usage) == 0
            ? usage.UserSeconds + (usage.UserMicros / 1e6) + usage.SystemSeconds + (usage.SystemMicros / 1e6)
            : double.NaN;
    }

    public static double OwnCpuSeconds()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime.TotalSeconds;
    }

    private static (int Parent, long UserTicks, long SystemTicks)? Stat(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
            return (int.Parse(fields[1], CultureInfo.InvariantCulture),
                long.Parse(fields[11], CultureInfo.InvariantCulture),
                long.Parse(fields[12], CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static long RssOf(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return 0;
    }

    private static double ClockTicks()
    {
        try
        {
            using var getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true });
            var text = getconf!.StandardOutput.ReadToEnd().Trim();
            getconf.WaitForExit();
            return double.Parse(text, CultureInfo.InvariantCulture);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return 100;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSeconds;
        public long UserMicros;
        public long SystemSeconds;
        public long SystemMicros;
        public long MaxRss;
        public long Ixrss;
        public long Idrss;
        public long Isrss;
        public long Minflt;
        public long Majflt;
        public long Nswap;
        public long Inblock;
        public long Oublock;
        public long Msgsnd;
        public long Msgrcv;
        public long Nsignals;
        public long Nvcsw;
        public long Nivcsw;
    }

    private static partial class Native
    {
        [LibraryImport("libc", SetLastError = true)]
        public static partial int getrusage(int who, ref RUsage usage);
    }
}
