using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace TokenPool.Bench;

/// <summary>One wrk run (C, one thread): requests, failures (status or a body without response.completed), latency.</summary>
internal sealed record WrkResult(long Good, long Bad, long Requests, long SocketErrors, double Seconds, double P50Ms, double P99Ms, double CpuSeconds)
{
    public long Failures => Bad + SocketErrors;

    public double RequestsPerSecond => Good / Seconds;
}

internal static partial class Wrk
{
    public static string? Find() => new[] { "/usr/bin/wrk", "/usr/local/bin/wrk" }.FirstOrDefault(File.Exists);

    public static string WriteScript(string dir, string name, byte[] body, string? key, string? mode)
    {
        var path = Path.Combine(dir, name + ".lua");
        var headers = (key is null ? "" : $"wrk.headers[\"Authorization\"] = \"Bearer {key}\"\n")
            + (mode is null ? "" : $"wrk.headers[\"{Canned.ModeHeader}\"] = \"{mode}\"\n");
        File.WriteAllText(path, $$"""
            wrk.method = "POST"
            wrk.body = [==[{{System.Text.Encoding.UTF8.GetString(body)}}]==]
            wrk.headers["Content-Type"] = "application/json"
            {{headers}}
            local threads = {}
            function setup(thread) table.insert(threads, thread) end
            function init(args) good = 0; bad = 0 end
            function response(status, headers, body)
              if status == 200 and string.find(body, "\"type\":\"response.completed\"", 1, true) then good = good + 1 else bad = bad + 1 end
            end
            function done(summary, latency, requests)
              local g, b = 0, 0
              for _, t in ipairs(threads) do g = g + t:get("good"); b = b + t:get("bad") end
              local e = summary.errors
              io.write(string.format("BENCH good=%d bad=%d requests=%d socket_errors=%d duration_us=%d p50_us=%d p99_us=%d\n",
                g, b, summary.requests, e.connect + e.read + e.write + e.timeout, summary.duration,
                latency:percentile(50), latency:percentile(99)))
            end
            """);
        return path;
    }

    public static async Task<WrkResult> RunAsync(string wrk, string script, string url, int connections, double seconds)
    {
        var cpuBefore = Service.ReapedChildrenCpuSeconds();
        var start = new ProcessStartInfo(wrk)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-t1", $"-c{connections}", string.Create(CultureInfo.InvariantCulture, $"-d{Math.Max(1, (int)Math.Round(seconds))}s"), "--timeout", "10s", "-s", script, url })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var cpu = Service.ReapedChildrenCpuSeconds() - cpuBefore;
        var match = Line().Match(output);
        if (!match.Success)
        {
            throw new InvalidOperationException($"wrk printed no result: {output} {error}");
        }

        long Field(string name) => long.Parse(match.Groups[name].Value, CultureInfo.InvariantCulture);
        return new WrkResult(Field("good"), Field("bad"), Field("requests"), Field("errors"), Field("duration") / 1e6,
            Field("p50") / 1000.0, Field("p99") / 1000.0, cpu);
    }

    [GeneratedRegex(@"BENCH good=(?<good>\d+) bad=(?<bad>\d+) requests=(?<requests>\d+) socket_errors=(?<errors>\d+) duration_us=(?<duration>\d+) p50_us=(?<p50>\d+) p99_us=(?<p99>\d+)")]
    private static partial Regex Line();
}
