using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using OpenTelemetry.Trace;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Operations;
using static TokenPool.IntegrationTests.Infrastructure.Api;

namespace TokenPool.IntegrationTests.Operations;

/// <summary>
/// <c>/metrics</c> after known traffic: the counters and histograms match what happened (and the usage records), and
/// nothing secret or personal (a key, an email, a prompt, an answer) appears in metrics or traces. Runs alone: every
/// server in the test process publishes to meters named <c>TokenPool</c>, and each server's exporter reads all of them,
/// so another class's requests would be counted here.
/// </summary>
[Collection(Collection)]
public sealed partial class MetricsTests : IAsyncLifetime
{
    public const string Collection = "Metrics (alone: exact counts)";

    private const string Prompt = "prompt-text-that-must-never-leave-the-request-7f3a";
    private readonly List<Activity> _spans = [];
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(options =>
        options.Customize = builder => builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing
            .AddSource(TokenPoolTracing.SourceName)
            .AddInMemoryExporter(_spans)));

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Metrics_CountTheRequestsTokensMoneyAndRefusals_ThatHappened_AndCarryNoSecret()
    {
        var email = $"metrics-{Guid.NewGuid():N}@example.com";
        var account = await _gateway.CreateUserAsync(10m, email);
        var key = (await _gateway.Get<TokenPool.Keys.ApiKeyService>().CreateAsync(account.Id, new TokenPool.Keys.NewKeySettings("metrics"), null, CancellationToken.None)).Key;
        using var client = _gateway.ClientWithKey(key);

        for (var i = 0; i < 3; i++)
        {
            using var streamed = await client.PostAsync("v1/responses", Responses(Prompt, stream: true));
            Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
            await streamed.Content.ReadAsStringAsync();
        }

        for (var i = 0; i < 2; i++)
        {
            using var chat = await client.PostAsync("v1/chat/completions", Chat(Prompt));
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        }

        using (var unknown = await client.PostAsync("v1/responses", Responses(Prompt, model: "no-such-model-" + Prompt)))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        }

        var broke = await _gateway.CreateKeyAsync(0m);
        using (var brokeClient = _gateway.ClientWithKey(broke))
        using (var refused = await brokeClient.PostAsync("v1/responses", Responses(Prompt)))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        }

        var records = (await _gateway.UsageRecordsAsync()).Where(r => r.AccountId == account.Id && r.Outcome == "completed").ToList();
        Assert.Equal(5, records.Count);

        using var scrape = await _gateway.Client.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        var text = await scrape.Content.ReadAsStringAsync();
        var samples = Parse(text);

        const string channel = "channel=\"sim-1\"";
        Assert.Equal(3, Sample(samples, "tokenpool_requests_total", "api=\"responses\"", channel, "model=\"gpt-5.5\"", "outcome=\"completed\""));
        Assert.Equal(2, Sample(samples, "tokenpool_requests_total", "api=\"chat\"", channel, "model=\"gpt-5.5\"", "outcome=\"completed\""));
        Assert.Equal(1, Sample(samples, "tokenpool_refusals_total", "reason=\"model_not_found\""));
        Assert.Equal(1, Sample(samples, "tokenpool_refusals_total", "reason=\"insufficient_quota\""));
        Assert.Equal(3, Sample(samples, "tokenpool_request_duration_seconds_count", "api=\"responses\"", channel, "model=\"gpt-5.5\""));
        Assert.Equal(5, Sample(samples, "tokenpool_time_to_first_token_seconds_count", channel, "model=\"gpt-5.5\""));
        Assert.Equal(records.Sum(r => r.InputTokens), Sample(samples, "tokenpool_tokens_total", channel, "model=\"gpt-5.5\"", "type=\"input\""));
        Assert.Equal(records.Sum(r => r.OutputTokens), Sample(samples, "tokenpool_tokens_total", channel, "model=\"gpt-5.5\"", "type=\"output\""));
        Assert.Equal(records.Sum(r => r.CostMicros) / 1_000_000.0, Sample(samples, "tokenpool_charged_USD_total", channel, "model=\"gpt-5.5\""), 9);
        Assert.Equal(0, Sample(samples, "tokenpool_upstream_keys_open_circuit", channel));
        Assert.Equal(0, Sample(samples, "tokenpool_draining"));

        // A client-chosen model name never becomes a label of its own.
        Assert.DoesNotContain("no-such-model", text, StringComparison.Ordinal);
        Assert.DoesNotContain(Prompt, text, StringComparison.Ordinal);
        Assert.DoesNotContain(key, text, StringComparison.Ordinal);
        Assert.DoesNotContain(key[..12], text, StringComparison.Ordinal);
        Assert.DoesNotContain(email, text, StringComparison.Ordinal);
        Assert.DoesNotContain(_gateway.UpstreamKeys[0], text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Traces_HaveARequestSpanWithItsAttemptAndSettlement_AndCarryNoSecret()
    {
        var key = await _gateway.CreateKeyAsync(10m);
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.PostAsync("v1/responses", Responses(Prompt, stream: true));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = await response.Content.ReadAsStringAsync();
        var requestId = response.Headers.GetValues("x-tokenpool-request-id").Single();
        await _gateway.FlushUsageAsync();

        Activity[] spans;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            lock (_spans)
            {
                spans = [.. _spans];
            }

            if (spans.Any(s => s.Kind == ActivityKind.Server && (string?)s.GetTagItem("tokenpool.request_id") == requestId))
            {
                break;
            }

            await Task.Delay(20);
        }
        while (DateTime.UtcNow < deadline);

        var request = Assert.Single(spans, s => s.Kind == ActivityKind.Server && (string?)s.GetTagItem("tokenpool.request_id") == requestId);
        Assert.Equal("chat gpt-5.5", request.DisplayName);
        Assert.Equal("gpt-5.5", request.GetTagItem("gen_ai.request.model"));
        Assert.True((long)request.GetTagItem("gen_ai.usage.output_tokens")! > 0);
        var children = spans.Where(s => s.ParentSpanId == request.SpanId).ToList();
        var attempt = Assert.Single(children, s => s.Kind == ActivityKind.Client);
        Assert.Equal("sim-1", attempt.GetTagItem("tokenpool.channel"));
        Assert.Single(children, s => s.DisplayName == "settle");

        foreach (var span in spans)
        {
            foreach (var (name, value) in span.TagObjects)
            {
                var shown = Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
                Assert.DoesNotContain(Prompt, shown, StringComparison.Ordinal);
                Assert.DoesNotContain(key[..12], shown, StringComparison.Ordinal);
                Assert.DoesNotContain(_gateway.UpstreamKeys[0], shown, StringComparison.Ordinal);
                Assert.False(answer.Length > 40 && shown.Length > 40 && answer.Contains(shown, StringComparison.Ordinal), $"Span tag {name} carries answer text.");
            }
        }
    }

    [Fact]
    public void TheDashboardTheAlertsAndTheOperationsGuide_ReadOnlyMetricsTokenPoolPublishes()
    {
        var published = PublishedPrometheusNames();
        Assert.Contains("tokenpool_requests_total", published);
        var root = ClientProcess.RepositoryRoot;
        var sources = new Dictionary<string, string>
        {
            ["deploy/grafana/tokenpool-dashboard.json"] = File.ReadAllText(Path.Combine(root, "deploy", "grafana", "tokenpool-dashboard.json")),
            ["deploy/prometheus/alerts.yml"] = File.ReadAllText(Path.Combine(root, "deploy", "prometheus", "alerts.yml")),
            ["Docs/Guides/operations.md"] = File.ReadAllText(Path.Combine(root, "src", "TokenPool", "Docs", "Guides", "operations.md")),
        };
        foreach (var (file, text) in sources)
        {
            var referenced = MetricName().Matches(text).Select(m => m.Value).Distinct().ToList();
            Assert.NotEmpty(referenced);
            foreach (var name in referenced)
            {
                Assert.True(published.Contains(name), $"{file} reads {name}, which TokenPool does not publish. Published: {string.Join(", ", published.Order())}");
            }
        }

        // And the guide's table lists every metric TokenPool publishes.
        var guide = sources["Docs/Guides/operations.md"];
        foreach (var name in published.Where(n => !n.EndsWith("_bucket", StringComparison.Ordinal) && !n.EndsWith("_sum", StringComparison.Ordinal) && !n.EndsWith("_count", StringComparison.Ordinal)))
        {
            Assert.True(guide.Contains($"`{name}`", StringComparison.Ordinal) || guide.Contains($"`{name.Replace("_bucket", "", StringComparison.Ordinal)}`", StringComparison.Ordinal),
                $"The operations guide does not list {name}.");
        }
    }

    /// <summary>
    /// The Prometheus names of every instrument of the TokenPool meter (as the exporter names them: dots to underscores, the
    /// unit appended, <c>_total</c> on counters, <c>_bucket</c>/<c>_sum</c>/<c>_count</c> on histograms).
    /// </summary>
    private HashSet<string> PublishedPrometheusNames()
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, _) =>
        {
            if (instrument.Meter.Name != TokenPoolMetrics.MeterName)
            {
                return;
            }

            var name = instrument.Name.Replace('.', '_');
            var unit = instrument.Unit switch
            {
                null or "" or "1" => "",
                "s" => "_seconds",
                var u when u.StartsWith('{') => "",
                var u => "_" + u,
            };
            name += unit;
            var type = instrument.GetType().GetGenericTypeDefinition();
            if (type == typeof(System.Diagnostics.Metrics.Counter<>))
            {
                names.Add(name + "_total");
            }
            else if (type == typeof(System.Diagnostics.Metrics.Histogram<>))
            {
                names.Add(name);
                names.Add(name + "_bucket");
                names.Add(name + "_sum");
                names.Add(name + "_count");
            }
            else
            {
                names.Add(name);
            }
        };
        listener.Start();
        GC.KeepAlive(_gateway.Get<TokenPoolMetrics>());
        return names;
    }

    [GeneratedRegex(@"tokenpool_[a-z_A-Z]+[a-zA-Z]")]
    private static partial Regex MetricName();

    /// <summary>Prometheus text format: each sample line as (metric name with labels, value).</summary>
    private static List<(string Name, string Labels, double Value)> Parse(string text)
    {
        var samples = new List<(string, string, double)>();
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var match = SampleLine().Match(line);
            Assert.True(match.Success, $"Not a Prometheus sample line: {line}");
            samples.Add((match.Groups[1].Value, match.Groups[2].Value, double.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture)));
        }

        return samples;
    }

    /// <summary>The value of the one sample of <paramref name="name"/> whose labels include all of <paramref name="labels"/>.</summary>
    private static double Sample(List<(string Name, string Labels, double Value)> samples, string name, params string[] labels)
    {
        var matching = samples.Where(s => s.Name == name && labels.All(l => s.Labels.Contains(l, StringComparison.Ordinal))).ToList();
        Assert.True(matching.Count == 1, $"Expected one sample of {name}{{{string.Join(',', labels)}}}, found {matching.Count}: " +
            string.Join("; ", samples.Where(s => s.Name == name).Select(s => $"{{{s.Labels}}} {s.Value}")));
        return matching[0].Value;
    }

    [GeneratedRegex(@"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([-+0-9.eE]+|NaN|\+Inf|-Inf)(?: \d+)?$")]
    private static partial Regex SampleLine();
}

/// <summary>The collection <see cref="MetricsTests"/> runs in, with nothing else at the same time.</summary>
[CollectionDefinition(MetricsTests.Collection, DisableParallelization = true)]
public sealed class MetricsCollection;
