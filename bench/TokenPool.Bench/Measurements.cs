using System.Diagnostics;
using System.Globalization;

namespace TokenPool.Bench;

/// <summary>The five measurements. Timing ones interleave the targets within each round and compare inside the round.</summary>
internal sealed partial class BenchRun
{
    private static string F(double value, string format = "0.00") => value.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>1. Gateway CPU seconds per 10,000 streamed requests at fixed concurrency (wrk).</summary>
    private async Task CpuAsync()
    {
        Report($"#### 1. CPU per 10,000 streamed requests, concurrency {options.Concurrency} (gateway process only; median [IQR] over {options.Rounds} interleaved rounds of {F(options.CpuRoundSeconds, "0.#")} s)");
        Report("");
        var perTarget = _gateways.ToDictionary(g => g, _ => new List<double>());
        var rates = _gateways.ToDictionary(g => g, _ => new List<double>());
        var upstreamUse = _gateways.ToDictionary(g => g, _ => new List<double>());
        var gatewayUse = _gateways.ToDictionary(g => g, _ => new List<double>());
        var wrkUse = new List<double>();
        long failures = 0;
        for (var round = 0; round < options.Rounds; round++)
        {
            foreach (var gateway in Rotate(_gateways, round))
            {
                var process = gateway.Process!;
                var cpu = process.CpuSeconds();
                var upstream = _fixedUpstream.CpuSeconds();
                var clock = Stopwatch.StartNew();
                var result = await Wrk.RunAsync(_wrk, Script(gateway, paced: false), gateway.Url + "/v1/responses", options.Concurrency, options.CpuRoundSeconds);
                var wall = clock.Elapsed.TotalSeconds;
                var used = process.CpuSeconds() - cpu;
                failures += result.Failures;
                perTarget[gateway].Add(used / Math.Max(1, result.Good) * 10_000);
                rates[gateway].Add(result.RequestsPerSecond);
                upstreamUse[gateway].Add((_fixedUpstream.CpuSeconds() - upstream) / wall);
                gatewayUse[gateway].Add(used / wall);
                wrkUse.Add(result.CpuSeconds / wall);
            }
        }

        Report("| Target | CPU s / 10k requests | requests/s | gateway CPU (cores) | upstream CPU (cores, max) |");
        Report("|---|---|---|---|---|");
        foreach (var gateway in _gateways)
        {
            Report($"| {gateway.Name} | {Stats.Spread(perTarget[gateway], "0.000")} | {Stats.Spread(rates[gateway], "0")} | {Stats.Spread(gatewayUse[gateway], "0.00")} | {F(upstreamUse[gateway].Max())} |");
        }

        Report("");
        var ratio = RatioPerRound(perTarget[_tokenPool], perTarget[_yarp]);
        Report($"TokenPool / plain YARP CPU per request: {Stats.Spread(ratio, "0.00")}×");
        if (_tokenPoolB is { } other)
        {
            Report($"TokenPool B / TokenPool CPU per request: {Stats.Spread(RatioPerRound(perTarget[other], perTarget[_tokenPool]), "0.000")}× "
                + $"(B / plain YARP: {Stats.Spread(RatioPerRound(perTarget[other], perTarget[_yarp]), "0.00")}×)");
        }

        if (_gateways.FirstOrDefault(g => g.Name == "nginx proxy") is { } nginx)
        {
            Report($"TokenPool / nginx: {Stats.Spread(RatioPerRound(perTarget[_tokenPool], perTarget[nginx]), "0.0")}×; plain YARP / nginx: {Stats.Spread(RatioPerRound(perTarget[_yarp], perTarget[nginx]), "0.0")}×");
        }

        Report($"Load generator (wrk, one thread) used at most {F(wrkUse.Max())} of a core; upstream at most {F(upstreamUse.Values.SelectMany(v => v).Max())} of its one worker core; failed requests: {failures}.");
        Report("");
        var refused = false;
        if (failures > 0)
        {
            Refuse($"CPU: {failures} requests failed");
            refused = true;
        }

        if (upstreamUse.Values.SelectMany(v => v).Max() > UpstreamSaturation * UpstreamCores())
        {
            Refuse("CPU: the upstream was near saturation (the bottleneck)");
            refused = true;
        }

        if (wrkUse.Max() > LoadGeneratorSaturation)
        {
            Refuse("CPU: the load generator was near saturation");
            refused = true;
        }

        if (!refused)
        {
            Verdict("CPU per request ≤ 1.5× plain YARP", Stats.Median(ratio) <= 1.5, $"{Stats.Spread(ratio, "0.00")}×");
        }
    }

    /// <summary>2. Added latency at concurrency 1: every request alternates target, compared within its round.</summary>
    private async Task LatencyAsync()
    {
        var targets = _gateways.Prepend(_direct).ToList();
        Report($"#### 2. Latency at concurrency 1, streamed request read to its end ({options.LatencyRequests} requests per target per round, targets alternating request by request; added = target − direct in the same round; median [IQR] over {options.Rounds} rounds, ms)");
        Report("");
        var clients = targets.ToDictionary(t => t, t => new Client(t));
        var buffer = new byte[64 * 1024];
        var p50 = targets.ToDictionary(t => t, _ => new List<double>());
        var p99 = targets.ToDictionary(t => t, _ => new List<double>());
        long failures = 0;
        var cpu = Service.OwnCpuSeconds();
        var clock = Stopwatch.StartNew();
        try
        {
            for (var round = 0; round < options.Rounds; round++)
            {
                var samples = targets.ToDictionary(t => t, _ => new List<double>(options.LatencyRequests));
                for (var i = 0; i < options.LatencyRequests; i++)
                {
                    foreach (var target in Rotate(targets, i + round))
                    {
                        var ms = await clients[target].TimeOneAsync(_fixedBody, buffer, CancellationToken.None);
                        if (double.IsNaN(ms))
                        {
                            failures++;
                        }
                        else
                        {
                            samples[target].Add(ms);
                        }
                    }
                }

                foreach (var target in targets)
                {
                    p50[target].Add(Stats.Quantile(samples[target], 0.5));
                    p99[target].Add(Stats.Quantile(samples[target], 0.99));
                }
            }
        }
        finally
        {
            foreach (var client in clients.Values)
            {
                client.Dispose();
            }
        }

        var clientUse = (Service.OwnCpuSeconds() - cpu) / clock.Elapsed.TotalSeconds;
        Report("| Target | p50 | p99 | added p50 | added p99 |");
        Report("|---|---|---|---|---|");
        foreach (var target in targets)
        {
            var added50 = Minus(p50[target], p50[_direct]);
            var added99 = Minus(p99[target], p99[_direct]);
            Report(target == _direct
                ? $"| {target.Name} | {Stats.Spread(p50[target], "0.000")} | {Stats.Spread(p99[target], "0.000")} | | |"
                : $"| {target.Name} | {Stats.Spread(p50[target], "0.000")} | {Stats.Spread(p99[target], "0.000")} | {Stats.Spread(added50, "0.000")} | {Stats.Spread(added99, "0.000")} |");
        }

        Report("");
        Report($"Client (this process) used {F(clientUse)} cores on average; it sends one request at a time, so its own time is the same in every column and cancels out in \"added\". Failed requests: {failures}.");
        Report("");
        if (failures > 0)
        {
            Refuse($"latency: {failures} requests failed");
            return;
        }

        var tp50 = Stats.Median(Minus(p50[_tokenPool], p50[_direct]));
        var tp99 = Stats.Median(Minus(p99[_tokenPool], p99[_direct]));
        Verdict("added latency p50 ≤ 0.3 ms", tp50 <= 0.3, $"{F(tp50, "0.000")} ms");
        Verdict("added latency p99 ≤ 1 ms", tp99 <= 1.0, $"{F(tp99, "0.000")} ms");
    }

    /// <summary>3. Paced stream: 64 events 20 ms apart. Added time to first event and added gap, against direct in the same round.</summary>
    private async Task PacedAsync()
    {
        var targets = _gateways.Prepend(_pacedDirect).ToList();
        Report($"#### 3. Paced stream: {BenchUpstream.PacedEvents} events {BenchUpstream.PacedIntervalMs} ms apart ({options.PacedStreams} streams per target per round, {options.Rounds} rounds, each stream right after 20 quick requests on the same path so no process starts it asleep; median [IQR] over streams, ms)");
        Report("");
        var clients = targets.ToDictionary(t => t, t => new Client(t));
        var ttfb = targets.ToDictionary(t => t, _ => new List<double>());
        var meanGap = targets.ToDictionary(t => t, _ => new List<double>());
        var maxGap = targets.ToDictionary(t => t, _ => new List<double>());
        var coalesced = targets.ToDictionary(t => t, _ => 0);
        var failures = 0;
        var warmBuffer = new byte[64 * 1024];
        try
        {
            for (var round = 0; round < options.Rounds; round++)
            {
                foreach (var target in Rotate(targets, round))
                {
                    for (var s = 0; s < options.PacedStreams; s++)
                    {
                        for (var w = 0; w < 20; w++)
                        {
                            await clients[target].TimeOneAsync(_pacedBody, warmBuffer, CancellationToken.None, "warm");
                        }

                        var times = await clients[target].EventTimesAsync(_pacedBody, "paced", null, CancellationToken.None);
                        if (times.Count != BenchUpstream.PacedEvents)
                        {
                            failures++;
                            continue;
                        }

                        var gaps = times.Zip(times.Skip(1), (a, b) => b - a).ToList();
                        ttfb[target].Add(times[0]);
                        meanGap[target].Add(gaps.Average());
                        maxGap[target].Add(gaps.Max());
                        coalesced[target] += gaps.Count(g => g < BenchUpstream.PacedIntervalMs / 2.0);
                    }
                }
            }
        }
        finally
        {
            foreach (var client in clients.Values)
            {
                client.Dispose();
            }
        }

        Report("| Target | first event | mean gap | largest gap | added first event | added mean gap | events arriving together |");
        Report("|---|---|---|---|---|---|---|");
        foreach (var target in targets)
        {
            Report(target == _pacedDirect
                ? $"| {target.Name} | {Stats.Spread(ttfb[target], "0.000")} | {Stats.Spread(meanGap[target], "0.000")} | {Stats.Spread(maxGap[target], "0.0")} | | | {coalesced[target]} |"
                : $"| {target.Name} | {Stats.Spread(ttfb[target], "0.000")} | {Stats.Spread(meanGap[target], "0.000")} | {Stats.Spread(maxGap[target], "0.0")} | {Stats.Spread(Minus(ttfb[target], ttfb[_pacedDirect]), "0.000")} | {Stats.Spread(Minus(meanGap[target], meanGap[_pacedDirect]), "0.0000")} | {coalesced[target]} |");
        }

        Report("");
        Report($"\"Events arriving together\": gaps under {BenchUpstream.PacedIntervalMs / 2} ms over all streams (the gateway held an event back and sent it with the next). Failed streams: {failures}.");
        Report("");
        if (failures > 0)
        {
            Refuse($"paced: {failures} streams failed");
            return;
        }

        var addedFirst = Stats.Median(Minus(ttfb[_tokenPool], ttfb[_pacedDirect]));
        var addedGap = Stats.Median(Minus(meanGap[_tokenPool], meanGap[_pacedDirect]));
        var together = coalesced[_tokenPool] - coalesced[_pacedDirect];
        var gapCount = ttfb[_tokenPool].Count * (BenchUpstream.PacedEvents - 1);
        Verdict("added time to first event ≤ 1 ms", addedFirst <= 1.0, $"{F(addedFirst, "0.000")} ms");
        Verdict("no added delay between events", addedGap <= 0.05 && together <= gapCount / 20,
            $"added mean gap {F(addedGap, "0.0000")} ms; {together} more of {gapCount} events held back than direct (criterion: ≤ 0.05 ms and ≤ 5 %)");
    }

    /// <summary>4. Memory: idle, a plateau with many slow streams open, and after they end.</summary>
    private async Task MemoryAsync()
    {
        var streams = options.OpenStreams;
        Report($"#### 4. Memory with {streams:N0} concurrent slow streams held open (resident set, MiB)");
        Report("");
        Report("| Target | idle | plateau | per open stream | after, 5 s | after, 15 s |");
        Report("|---|---|---|---|---|---|");
        foreach (var gateway in _gateways)
        {
            var process = gateway.Process!;
            await LightTrafficAsync(gateway, 2);
            await Task.Delay(3000);
            var idle = process.RssKb();
            using var client = new Client(gateway);
            var opened = 0;
            var openGate = new SemaphoreSlim(64);
            var tasks = new List<Task<List<double>>>(streams);
            for (var i = 0; i < streams; i++)
            {
                await openGate.WaitAsync();
                tasks.Add(Task.Run(async () =>
                {
                    var released = false;
                    try
                    {
                        return await client.EventTimesAsync(_pacedBody, "slow", () =>
                        {
                            Interlocked.Increment(ref opened);
                            openGate.Release();
                            released = true;
                        }, CancellationToken.None);
                    }
                    finally
                    {
                        if (!released)
                        {
                            openGate.Release();
                        }
                    }
                }));
            }

            var wait = Stopwatch.StartNew();
            while (Volatile.Read(ref opened) < streams && wait.Elapsed < TimeSpan.FromSeconds(60) && tasks.Any(t => !t.IsCompleted))
            {
                await Task.Delay(100);
            }

            long plateau = 0;
            for (var i = 0; i < 12; i++)
            {
                await Task.Delay(250);
                plateau = Math.Max(plateau, process.RssKb());
            }

            using (var release = new HttpClient())
            {
                (await release.PostAsync(new Uri(_pacedUpstream.Url + "/release"), null)).Dispose();
            }

            var results = await Task.WhenAll(tasks);
            var failed = results.Count(r => r.Count == 0);
            await LightTrafficAsync(gateway, 2);
            await Task.Delay(3000);
            var after5 = process.RssKb();
            await LightTrafficAsync(gateway, 2);
            await Task.Delay(8000);
            var after15 = process.RssKb();
            var perStream = (plateau - idle) / (double)streams;
            Report($"| {gateway.Name} | {F(idle / 1024.0, "0.0")} | {F(plateau / 1024.0, "0.0")} | {F(perStream, "0.0")} KiB | {F(after5 / 1024.0, "0.0")} | {F(after15 / 1024.0, "0.0")} |");
            if (failed > 0 || opened < streams)
            {
                Refuse($"memory: through {gateway.Name}, {streams - opened} streams did not open and {failed} did not end with response.completed");
                continue;
            }

            if (gateway == _tokenPool)
            {
                var growth = plateau - idle;
                Verdict("≤ 100 KB per open stream", perStream * 1024 <= 100_000, $"{F(perStream, "0.0")} KiB");
                Verdict("memory returns to idle", after15 - idle <= Math.Max(0.25 * growth, 8 * 1024),
                    $"idle {F(idle / 1024.0, "0.0")} MiB, plateau {F(plateau / 1024.0, "0.0")} MiB, 15 s after {F(after15 / 1024.0, "0.0")} MiB (criterion: within a quarter of the growth, or 8 MiB)");
            }
        }

        Report("");
        Report("Each slow stream gets its first event at once, then a delta a second until the upstream is told to end them all. \"Idle\" and \"after\" are read the same way: light traffic (wrk, 4 connections, 2 s), then a pause, so that the collector has run.");
        Report("");
    }

    /// <summary>5. Throughput at a fixed p99 bound: the best requests/s at any tested concurrency whose p99 stays under the bound.</summary>
    private async Task ThroughputAsync()
    {
        var targets = _gateways.Prepend(_direct).ToList();
        Report($"#### 5. Throughput with p99 ≤ {F(options.P99BoundMs, "0.#")} ms (wrk, one thread, concurrency {string.Join('/', options.Levels)}, {F(options.LevelSeconds, "0.#")} s each, targets interleaved per level)");
        Report("");
        var best = targets.ToDictionary(t => t, _ => (Rate: 0.0, Concurrency: 0, P99: 0.0, UpstreamBound: false));
        var rows = new List<string>();
        long failures = 0;
        double wrkMax = 0;
        foreach (var level in options.Levels)
        {
            var cells = new Dictionary<Target, string>();
            foreach (var target in Rotate(targets, level))
            {
                var upstream = _fixedUpstream.CpuSeconds();
                var clock = Stopwatch.StartNew();
                var result = await Wrk.RunAsync(_wrk, Script(target, paced: false), target.Url + "/v1/responses", level, options.LevelSeconds);
                var upstreamUse = (_fixedUpstream.CpuSeconds() - upstream) / clock.Elapsed.TotalSeconds;
                var wrkUse = result.CpuSeconds / clock.Elapsed.TotalSeconds;
                wrkMax = Math.Max(wrkMax, wrkUse);
                failures += result.Failures;
                var bound = upstreamUse > UpstreamSaturation * UpstreamCores() ? " (u)" : wrkUse > LoadGeneratorSaturation ? " (g)" : "";
                cells[target] = $"{F(result.RequestsPerSecond, "0")} / {F(result.P99Ms, "0.0")}{bound}";
                if (result.P99Ms <= options.P99BoundMs && result.RequestsPerSecond > best[target].Rate)
                {
                    best[target] = (result.RequestsPerSecond, level, result.P99Ms, upstreamUse > UpstreamSaturation * UpstreamCores());
                }
            }

            rows.Add($"| {level} | " + string.Join(" | ", targets.Select(t => cells[t])) + " |");
        }

        Report("| Concurrency | " + string.Join(" | ", targets.Select(t => t.Name + " req/s / p99 ms")) + " |");
        Report("|---|" + string.Concat(targets.Select(_ => "---|")));
        foreach (var row in rows)
        {
            Report(row);
        }

        Report("");
        Report("Best within the bound: " + string.Join("; ", targets.Select(t =>
            $"{t.Name} {F(best[t].Rate, "0")} req/s at concurrency {best[t].Concurrency}{(best[t].UpstreamBound ? " (upstream-bound)" : "")}")));
        Report($"TokenPool / plain YARP: {F(best[_tokenPool].Rate / Math.Max(1, best[_yarp].Rate))}×. (u): the upstream was near saturation; (g): wrk was (at most {F(wrkMax)} of a core). Only the direct column may be bound by either; failed requests: {failures}.");
        Report("");
        if (failures > 0)
        {
            Refuse($"throughput: {failures} requests failed");
        }

        if (_gateways.Any(g => best[g].UpstreamBound))
        {
            Refuse("throughput: a gateway's best figure was bound by the upstream");
        }
    }

    private async Task LightTrafficAsync(Target gateway, double seconds) =>
        await Wrk.RunAsync(_wrk, Script(gateway, paced: false), gateway.Url + "/v1/responses", 4, seconds);

    private double UpstreamCores() => _nginxUpstream ? 1 : Environment.ProcessorCount;

    private static List<T> Rotate<T>(List<T> items, int by) => [.. items.Skip(by % items.Count), .. items.Take(by % items.Count)];

    private static List<double> Minus(List<double> a, List<double> b) => [.. a.Zip(b, (x, y) => x - y)];

    private static List<double> RatioPerRound(List<double> a, List<double> b) => [.. a.Zip(b, (x, y) => x / y)];
}
