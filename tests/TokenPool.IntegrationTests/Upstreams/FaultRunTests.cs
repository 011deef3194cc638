using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;
using Xunit.Abstractions;

namespace TokenPool.IntegrationTests.Upstreams;

/// <summary>
/// Issue 5's fault run: many requests through three simulated channels, one failing 30% of its requests
/// and one stalling a quarter of them before its headers (breakers tuned so that both stay in rotation). Every request must succeed (a healthy channel can
/// always serve it), be charged exactly once, and no connection may hang. The request count is
/// <c>TOKENPOOL_FAULT_RUN_REQUESTS</c> (10,000 by default).
/// </summary>
public sealed class FaultRunTests(ITestOutputHelper output)
{
    private const int Concurrency = 32;
    private static readonly TimeSpan RunLimit = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan RequestLimit = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task TenThousandRequests_ThroughAFailingAndAStallingChannel_AllSucceedOnceCharged()
    {
        var count = int.TryParse(Environment.GetEnvironmentVariable("TOKENPOOL_FAULT_RUN_REQUESTS"), CultureInfo.InvariantCulture, out var n) ? n : 10_000;
        await using var gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel());
            o.ChannelList.Add(new TestChannel { Faults = new FaultProfile(FailRate: 0.3, FailStatus: 503, Seed: 7) });
            o.ChannelList.Add(new TestChannel { Faults = new FaultProfile(StallRate: 0.25, Seed: 11), ResponseHeadersTimeoutSeconds = 1 });
            o.Settings["Logging:LogLevel:Default"] = "Warning";
            o.Settings["Upstreams:BreakerFailures"] = "12";
            o.Settings["Upstreams:BreakerOpenSeconds"] = "1";
            o.Settings["Upstreams:BreakerMaxOpenSeconds"] = "2";
        });
        const decimal credit = 1000m;
        var (account, key) = await gateway.CreateAccountKeyAsync(credit);
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Concurrency * 2, MaxResponseDrainSize = 0 })
        {
            BaseAddress = gateway.Address,
            Timeout = RequestLimit,
        };
        client.DefaultRequestHeaders.Authorization = new("Bearer", key);

        var failures = new ConcurrentBag<string>();
        var requestIds = new ConcurrentBag<string>();
        using var run = new CancellationTokenSource(RunLimit);
        var watch = Stopwatch.StartNew();
        await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = Concurrency, CancellationToken = run.Token }, async (i, token) =>
        {
            try
            {
                var failure = await OneRequestAsync(client, i, requestIds, token);
                if (failure is not null)
                {
                    failures.Add($"#{i}: {failure}");
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException or JsonException)
            {
                failures.Add($"#{i}: {ex.GetType().Name} {ex.Message}");
            }
        });
        var elapsed = watch.Elapsed;

        var records = await gateway.UsageRecordsAsync();
        var balance = await gateway.BalanceAsync(account.Id);
        await using var db = await gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        var openReservations = await db.Reservations.CountAsync();
        var upstreamCalls = gateway.Upstreams.Select(u => u.TotalRequests).ToList();
        var retried = records.Count(r => r.Attempts?.Contains(' ', StringComparison.Ordinal) == true);
        var line = $"fault run: {count} requests, concurrency {Concurrency}, {elapsed.TotalSeconds:0.0} s ({count / elapsed.TotalSeconds:0} req/s); "
            + $"client failures {failures.Count}; usage records {records.Count}; requests with failover {retried}; "
            + $"upstream requests seen (healthy/failing/stalling) {string.Join('/', upstreamCalls)}; "
            + $"charged {records.Sum(r => r.CostMicros)} micro-USD; open reservations {openReservations}";
        var health = string.Join("; ", gateway.ChannelKeyIds.Select(id => gateway.Get<TokenPool.Upstreams.UpstreamPool>().Health(id).Report())
            .Select(h => $"{h.State} {h.Requests} req {h.Errors} failed [{string.Join(" | ", h.RecentErrors.Take(2).Select(e => $"{e.Status} {e.Code} {e.Message}"))}]"));
        line += "; health " + health;
        output.WriteLine(line);
        await File.AppendAllTextAsync(Path.Combine(Path.GetTempPath(), "tokenpool-fault-run.txt"), line + Environment.NewLine);

        Assert.True(failures.IsEmpty, string.Join('\n', failures.Take(20)));
        Assert.Equal(count, requestIds.Distinct().Count());
        Assert.Equal(count, records.Count);
        Assert.Equal(count, records.Select(r => r.RequestId).Distinct().Count());
        Assert.True(requestIds.ToHashSet().SetEquals(records.Select(r => r.RequestId)));
        Assert.All(records, r => Assert.Equal("completed", r.Outcome));
        Assert.Equal(0, openReservations);
        Assert.Equal((long)(credit * 1_000_000m) - records.Sum(r => r.CostMicros), balance);
        Assert.True(retried > 0, "no request needed failover: the faults were not injected");
    }

    private static async Task<string?> OneRequestAsync(HttpClient client, int i, ConcurrentBag<string> requestIds, CancellationToken token)
    {
        var (path, content, stream) = (i % 4) switch
        {
            0 => ("v1/responses", Api.Responses($"fault run {i}", stream: true), true),
            1 => ("responses", Api.Responses($"fault run {i}", stream: false), false),
            2 => ("v1/chat/completions", Api.Chat($"fault run {i}", stream: true), true),
            _ => ("v1/chat/completions", Api.Chat($"fault run {i}", stream: false, model: "gpt-5.4-mini"), false),
        };
        using var response = await client.PostAsync(path, content, token);
        if (response.Headers.TryGetValues("x-tokenpool-request-id", out var ids))
        {
            requestIds.Add(ids.First());
        }

        var body = await response.Content.ReadAsStringAsync(token);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return $"HTTP {(int)response.StatusCode} {body}";
        }

        if (!stream)
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.TryGetProperty("usage", out _) ? null : "no usage in the answer";
        }

        var isChat = path.Contains("chat", StringComparison.Ordinal);
        return isChat
            ? body.TrimEnd().EndsWith("data: [DONE]", StringComparison.Ordinal) && !body.Contains("\"error\"", StringComparison.Ordinal) ? null : "chat stream did not end with [DONE]: " + body[^Math.Min(300, body.Length)..]
            : body.Contains("\"type\":\"response.completed\"", StringComparison.Ordinal) && !body.Contains("response.failed", StringComparison.Ordinal) ? null : "responses stream did not complete: " + body[^Math.Min(300, body.Length)..];
    }
}
