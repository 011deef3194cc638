using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;

namespace TokenPool.Bench;

/// <summary>
/// 6. Footprint: how soon a freshly started server answers its first API request, how long an operator verb takes
/// from start to exit, and how much memory an idle server keeps. Each is timed on its own, with nothing else of the
/// bench running, from a process start to the answer (so start-up of the runtime counts).
/// </summary>
internal sealed partial class BenchRun
{
    private const double FirstRequestTargetSeconds = 1.0;
    private const double VerbTargetSeconds = 0.4;
    private const double IdleTargetMiB = 100;

    private async Task FootprintAsync()
    {
        var runs = options.Rounds;
        Report($"#### 6. Footprint (median [min–max] over {runs} starts; wall time from process start)");
        Report("");

        var data = Path.Combine(_dir, "footprint-data");
        Directory.CreateDirectory(data);
        var environment = new Dictionary<string, string> { ["TOKENPOOL_DATA"] = data, ["DOTNET_NOLOGO"] = "1" };
        await CliAsync(environment, "model", "set", "--model", Canned.FixedModel, "--input", "1", "--output", "4");
        await CliAsync(environment, "channel", "add", "--name", "bench-fixed", "--base-url", _fixedUpstream.Url + "/v1",
            "--api-key", "sk-bench-upstream-fixed-0000", "--models", Canned.FixedModel, "--wire", "responses");
        await CliAsync(environment, "user", "add", "--email", "footprint@example.com", "--password", "bench password 1234", "--credit", "1000");
        var key = (await CliAsync(environment, "key", "create", "--email", "footprint@example.com", "--name", "footprint")).Trim();

        var verbs = new List<double>();
        var shows = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            verbs.Add(await TimedCliAsync(environment, "key", "create", "--email", "footprint@example.com", "--name", "timed"));
            shows.Add(await TimedCliAsync(environment, "user", "show", "--email", "footprint@example.com"));
        }

        var firsts = new List<double>();
        var idle = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var (first, idleKb) = await StartToFirstAnswerAsync(data, key, measureIdle: i == 0);
            firsts.Add(first);
            if (idleKb > 0)
            {
                idle.Add(idleKb / 1024.0);
            }
        }

        Report("| Figure | median | min | max | target |");
        Report("|---|---|---|---|---|");
        Report($"| Start to first API answer (s) | {F(Stats.Median(firsts), "0.000")} | {F(firsts.Min(), "0.000")} | {F(firsts.Max(), "0.000")} | ≤ {F(FirstRequestTargetSeconds, "0.0")} |");
        Report($"| `key create`, start to exit (s) | {F(Stats.Median(verbs), "0.000")} | {F(verbs.Min(), "0.000")} | {F(verbs.Max(), "0.000")} | ≤ {F(VerbTargetSeconds, "0.0")} |");
        Report($"| `user show`, start to exit (s) | {F(Stats.Median(shows), "0.000")} | {F(shows.Min(), "0.000")} | {F(shows.Max(), "0.000")} | |");
        Report($"| Idle resident set, 15 s after one request (MiB) | {F(idle[0], "0.0")} | | | ≤ {F(IdleTargetMiB, "0")} |");
        Report("");
        Verdict("first answer within 1 s of start", Stats.Median(firsts) <= FirstRequestTargetSeconds, $"median {F(Stats.Median(firsts), "0.000")} s");
        Verdict("an operator verb within 0.4 s", Stats.Median(verbs) <= VerbTargetSeconds, $"key create median {F(Stats.Median(verbs), "0.000")} s");
        Verdict("idle server within 100 MiB", idle[0] <= IdleTargetMiB, $"{F(idle[0], "0.0")} MiB");
    }

    private async Task<double> TimedCliAsync(Dictionary<string, string> environment, params string[] arguments)
    {
        var clock = Stopwatch.StartNew();
        await CliAsync(environment, arguments);
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>Starts <c>tokenpool serve</c>, sends an API request every 5 ms until one is answered 200, stops the server.</summary>
    private async Task<(double Seconds, long IdleKb)> StartToFirstAnswerAsync(string data, string key, bool measureIdle)
    {
        var port = Service.FreePort();
        var url = $"http://127.0.0.1:{port}";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var body = Encoding.UTF8.GetBytes($$"""{"model":"{{Canned.FixedModel}}","input":"hi","stream":true}""");
        var clock = Stopwatch.StartNew();
        using var service = Service.Start("footprint", "dotnet", [options.TokenPoolDll, "serve", "--urls", url, "--data", data], url, Log("footprint"),
            new Dictionary<string, string> { ["DOTNET_NOLOGO"] = "1" });
        double seconds = double.NaN;
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url + "/v1/responses") { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
                using var response = await http.SendAsync(request);
                if (response.IsSuccessStatusCode)
                {
                    await response.Content.ReadAsByteArrayAsync();
                    seconds = clock.Elapsed.TotalSeconds;
                    break;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(5);
        }

        if (double.IsNaN(seconds))
        {
            throw new InvalidOperationException($"footprint: the server did not answer within 60 s; see logs in {_dir}");
        }

        long idleKb = 0;
        if (measureIdle)
        {
            await Task.Delay(TimeSpan.FromSeconds(15));
            idleKb = service.RssKb();
        }

        return (seconds, idleKb);
    }
}
