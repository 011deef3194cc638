using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace TokenPool.Bench.UsageQueries;

/// <summary>The figures of one measured page or export: milliseconds per run, sorted, and what the last run returned.</summary>
internal sealed record PageFigure(string Name, double Median, double P95, string Note);

/// <summary>
/// The usage page end to end: the real <c>tokenpool serve</c> (Release) on the seeded data directory, signed in
/// through the sign-in form like a browser, timing whole HTTP requests on loopback.
/// </summary>
internal static partial class Pages
{
    public static async Task<List<PageFigure>> MeasureAsync(string tokenPoolDll, string data, string email, string password,
        IReadOnlyList<long> keys, int iterations, int csvRuns, int depth, TextWriter progress)
    {
        var port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port}/");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { tokenPoolDll, "serve", "--urls", $"http://127.0.0.1:{port}", "--data", data })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Remove("TOKENPOOL_DATA");
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var server = Process.Start(start) ?? throw new InvalidOperationException("could not start tokenpool serve");
        var log = new StringBuilder();
        server.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        server.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            using var handler = new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false, UseProxy = false };
            using var http = new HttpClient(handler) { BaseAddress = address, Timeout = TimeSpan.FromMinutes(5) };
            await WaitReadyAsync(http, server, log);
            await SignInAsync(http, email, password);
            progress.WriteLine($"Signed in to tokenpool serve (pid {server.Id}) on {address}.");

            var today = DateOnly.FromDateTime(DateTime.UtcNow);
            string Day(int back) => today.AddDays(-back).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
            var figures = new List<PageFigure>
            {
                await TimePageAsync(http, "Usage page, default (30 days, by model)", "/console/usage", iterations),
                await TimePageAsync(http, "Filter: one key, 30 days", $"/console/usage?key={keys[3]}", iterations),
                await TimePageAsync(http, "Filter: rare model (1%), 30 days", "/console/usage?model=gpt-5.4-nano", iterations),
                await TimePageAsync(http, "Filter: status failed (5%), 30 days", "/console/usage?status=failed", iterations),
                await TimePageAsync(http, "Filter: 7-day range", $"/console/usage?from={Day(6)}&to={Day(0)}", iterations),
                await TimePageAsync(http, "Filter: 366-day range", $"/console/usage?from={Day(365)}&to={Day(0)}", iterations),
                await TimePageAsync(http, "Filter: model + failed + key, 7 days", $"/console/usage?from={Day(6)}&to={Day(0)}&key={keys[1]}&model=gpt-5.4-mini&status=failed", iterations),
                await TimePageAsync(http, "Chart by key, 30 days", "/console/usage?by=key", iterations),
            };

            var (hops, deep) = await FollowOlderAsync(http, "/console/usage", depth);
            figures.Add(Figure($"Following \"Older requests\" {depth} times (each hop)", hops, $"reached rows {depth * 50 + 1:N0}–{(depth + 1) * 50:N0}"));
            figures.Add(await TimePageAsync(http, $"Deep page (page {depth + 1}, rows {depth * 50 + 1:N0}–{(depth + 1) * 50:N0}) by its link", deep, iterations));

            figures.AddRange(await TimeCsvAsync(http, "/console/usage?handler=csv", csvRuns, server.Id));
            return figures;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }
        }
    }

    private static async Task WaitReadyAsync(HttpClient http, Process server, StringBuilder log)
    {
        for (var attempt = 0; attempt < 600; attempt++)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"tokenpool serve exited with {server.ExitCode}:\n{log}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri("/readyz", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"tokenpool serve was not ready within 60 s:\n{log}");
    }

    private static async Task SignInAsync(HttpClient http, string email, string password)
    {
        var form = await http.GetStringAsync(new Uri("/console/sign-in", UriKind.Relative));
        var token = TokenField().Match(form) is { Success: true } match
            ? WebUtility.HtmlDecode(match.Groups[1].Value)
            : throw new InvalidOperationException("The sign-in form has no antiforgery token.");
        using var body = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["email"] = email,
            ["password"] = password,
            ["returnUrl"] = "/console/usage",
            ["__RequestVerificationToken"] = token,
        });
        using var response = await http.PostAsync(new Uri("/console/sign-in", UriKind.Relative), body);
        if (response.StatusCode != HttpStatusCode.Redirect || response.Headers.Location?.OriginalString != "/console/usage")
        {
            throw new InvalidOperationException($"Sign-in did not redirect to the usage page: {(int)response.StatusCode} {response.Headers.Location}");
        }
    }

    private static async Task<PageFigure> TimePageAsync(HttpClient http, string name, string path, int iterations)
    {
        var html = await GetPageAsync(http, path);
        var samples = new List<double>(iterations);
        for (var i = 0; i < iterations; i++)
        {
            var watch = Stopwatch.StartNew();
            html = await GetPageAsync(http, path);
            samples.Add(watch.Elapsed.TotalMilliseconds);
        }

        return Figure(name, samples, $"{Rows(html)} rows, {html.Length / 1024.0:0} KB HTML");
    }

    private static async Task<(List<double> Hops, string Deep)> FollowOlderAsync(HttpClient http, string path, int depth)
    {
        var html = await GetPageAsync(http, path);
        var hops = new List<double>(depth);
        for (var i = 0; i < depth; i++)
        {
            path = OlderLink().Match(html) is { Success: true } match
                ? WebUtility.HtmlDecode(match.Groups[1].Value)
                : throw new InvalidOperationException($"Page {i + 1} has no \"Older requests\" link.");
            var watch = Stopwatch.StartNew();
            html = await GetPageAsync(http, path);
            hops.Add(watch.Elapsed.TotalMilliseconds);
        }

        return (hops, path);
    }

    private static async Task<string> GetPageAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
        var html = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.OK || html.Contains("data-testid=\"error\"", StringComparison.Ordinal) || Rows(html) == 0)
        {
            throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode} without the expected rows.");
        }

        return html;
    }

    private static async Task<List<PageFigure>> TimeCsvAsync(HttpClient http, string path, int runs, int pid)
    {
        var rssBefore = Rss(pid);
        var first = new List<double>(runs);
        var total = new List<double>(runs);
        long rows = 0;
        long bytes = 0;
        var buffer = new byte[64 * 1024];
        for (var i = 0; i <= runs; i++)
        {
            var watch = Stopwatch.StartNew();
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative), HttpCompletionOption.ResponseHeadersRead);
            response.EnsureSuccessStatusCode();
            await using var body = await response.Content.ReadAsStreamAsync();
            double? firstByte = null;
            long lines = 0;
            bytes = 0;
            int read;
            while ((read = await body.ReadAsync(buffer)) > 0)
            {
                firstByte ??= watch.Elapsed.TotalMilliseconds;
                bytes += read;
                lines += buffer.AsSpan(0, read).Count((byte)'\n');
            }

            var elapsed = watch.Elapsed.TotalMilliseconds;
            rows = lines - 1;
            if (i > 0)
            {
                first.Add(firstByte ?? elapsed);
                total.Add(elapsed);
            }
        }

        var rssAfter = Rss(pid);
        var totals = Figure("CSV export, 30 days: total", total, "");
        var note = string.Create(CultureInfo.InvariantCulture,
            $"{rows:N0} rows, {bytes / (1024.0 * 1024.0):0.0} MB, {rows / (totals.Median / 1000):N0} rows/s (median); server RSS {rssBefore.Rss / 1024.0:0} MB before, {rssAfter.Rss / 1024.0:0} MB after, peak {rssAfter.Peak / 1024.0:0} MB");
        return [Figure("CSV export, 30 days: first byte", first, ""), totals with { Note = note }];
    }

    private static PageFigure Figure(string name, List<double> samples, string note)
    {
        samples.Sort();
        return new PageFigure(name, samples[samples.Count / 2], samples[Math.Min(samples.Count - 1, (int)Math.Ceiling(samples.Count * 0.95) - 1)], note);
    }

    private static int Rows(string html) => Regex.Count(html, "data-testid=\"time\"");

    /// <summary>Resident and peak resident memory of a process in KB, from /proc.</summary>
    private static (long Rss, long Peak) Rss(int pid)
    {
        long rss = 0;
        long peak = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
            }
        }

        return (rss, peak);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\"[^>]*value=\"([^\"]+)\"")]
    private static partial Regex TokenField();

    [GeneratedRegex("href=\"([^\"]+)\" data-testid=\"older\"")]
    private static partial Regex OlderLink();
}
