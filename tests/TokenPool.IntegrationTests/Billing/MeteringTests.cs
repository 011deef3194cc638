using System.Net;
using System.Text;
using System.Text.Json;
using TokenPool.Billing;
using TokenPool.Gateway;
using TokenPool.IntegrationTests.Gateway;
using TokenPool.IntegrationTests.Infrastructure;
using static TokenPool.IntegrationTests.Billing.BillingKit;

namespace TokenPool.IntegrationTests.Billing;

/// <summary>Every token counted once: reported usage, estimated usage when a stream is cut, refunds on failure, prices per record.</summary>
public sealed class MeteringTests : IAsyncLifetime
{
    private const long Credit = 50_000_000;
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private TokenEstimator Estimator => _gateway.Get<TokenEstimator>();

    [Fact]
    public async Task ResponsesStreamCutByUpstream_IsChargedForInputAndDeliveredOutput_Estimated()
    {
        var (account, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        const string body = """{"model":"gpt-5.5","input":"Tell me a long story about a lighthouse keeper.","stream":true}""";
        using var response = await client.SendAsync(
            Post("v1/responses", body, "deltas=12 drop_after=9 delay_events_ms=30 text=\"The keeper climbed the stairs every night, counting each of the two hundred steps twice.\""),
            HttpCompletionOption.ResponseHeadersRead);
        var requestId = RequestId(response);
        Assert.Equal(requestId, Header(response, GatewayHandler.UsageRecordIdHeader));
        var raw = await response.Content.ReadAsStringAsync();
        var events = Sse.Parse(raw);
        Assert.True(raw.Contains("output_text.delta", StringComparison.Ordinal), raw);
        var delivered = string.Concat(events.Where(e => e.GetProperty("type").GetString() == "response.output_text.delta").Select(e => e.GetProperty("delta").GetString()));
        Assert.NotEmpty(delivered);
        Assert.Equal("response.failed", events[^1].GetProperty("type").GetString());

        var record = await WaitForRecordAsync(_gateway, requestId);
        Assert.True(record.IsEstimated);
        Assert.Equal("upstream_cut", record.Outcome);
        Assert.Equal(Estimator.CountRequestInput(Encoding.UTF8.GetBytes(body)), record.InputTokens);
        Assert.Equal(Estimator.CountText(delivered), record.OutputTokens);
        var price = _gateway.Get<PriceCatalog>().Find("gpt-5.5")!;
        Assert.Equal(Pricing.Cost(new TokenUsage(record.InputTokens, 0, record.OutputTokens, 0), price), record.CostMicros);
        Assert.True(record.CostMicros > 0);
        Assert.Equal(record.CostMicros, record.ChargedMicros);
        Assert.Equal(Credit - record.CostMicros, (await AccountAsync(_gateway, account.Id)).BalanceMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task ChatStreamCutByUpstream_IsChargedForDeliveredOutput_Estimated()
    {
        var (_, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        const string body = """{"model":"gpt-5.5","messages":[{"role":"user","content":"Describe the sea."}],"stream":true}""";
        using var response = await client.SendAsync(
            Post("v1/chat/completions", body, "deltas=10 drop_after=6 delay_events_ms=30 text=\"Grey water folds over itself under a low sky, endlessly patient and cold.\""),
            HttpCompletionOption.ResponseHeadersRead);
        var requestId = RequestId(response);
        var chunks = Sse.Parse(await response.Content.ReadAsStringAsync());
        var delivered = string.Concat(chunks
            .Where(c => c.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            .Select(c => c.GetProperty("choices")[0].GetProperty("delta").GetProperty("content").GetString()));
        Assert.NotEmpty(delivered);

        var record = await WaitForRecordAsync(_gateway, requestId);
        Assert.True(record.IsEstimated);
        Assert.Equal(Estimator.CountText(delivered), record.OutputTokens);
        Assert.Equal(Estimator.CountRequestInput(Encoding.UTF8.GetBytes(body)), record.InputTokens);
        Assert.Equal(record.CostMicros, record.ChargedMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task ClientDisconnectMidStream_IsChargedForInputAndOutputSent_Estimated()
    {
        var (account, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        const string text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen";
        const string body = """{"model":"gpt-5.5","input":"Count slowly.","stream":true}""";
        var response = await client.SendAsync(Post("v1/responses", body, $"deltas=16 delay_events_ms=150 text=\"{text}\""), HttpCompletionOption.ResponseHeadersRead);
        var requestId = RequestId(response);
        var seen = new StringBuilder();
        await using (var stream = await response.Content.ReadAsStreamAsync())
        {
            using var reader = new StreamReader(stream);
            var deltas = 0;
            while (deltas < 3 && await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal) && line.Contains("\"response.output_text.delta\"", StringComparison.Ordinal))
                {
                    seen.Append(JsonDocument.Parse(line[6..]).RootElement.GetProperty("delta").GetString());
                    deltas++;
                }
            }
        }

        response.Dispose();

        var record = await WaitForRecordAsync(_gateway, requestId);
        Assert.Equal("client_closed", record.Outcome);
        Assert.True(record.IsEstimated);
        Assert.Equal(Estimator.CountRequestInput(Encoding.UTF8.GetBytes(body)), record.InputTokens);
        Assert.InRange(record.OutputTokens, Estimator.CountText(seen.ToString()), Estimator.CountText(text));
        Assert.True(record.ChargedMicros > 0);
        Assert.Equal(record.CostMicros, record.ChargedMicros);
        Assert.Equal(Credit - record.ChargedMicros, (await AccountAsync(_gateway, account.Id)).BalanceMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Upstream500_RefundsEverything_AndChargesNothing(bool stream)
    {
        var (account, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.SendAsync(Post("v1/responses", $$"""{"model":"gpt-5.5","input":"fail please","stream":{{(stream ? "true" : "false")}}}""", "status=500"));
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        var requestId = RequestId(response);
        Assert.Equal(requestId, Header(response, GatewayHandler.UsageRecordIdHeader));

        var record = await WaitForRecordAsync(_gateway, requestId);
        Assert.Equal(0, record.ChargedMicros);
        Assert.Equal(0, record.CostMicros);
        Assert.Equal(500, record.Status);
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(Credit, after.BalanceMicros);
        Assert.Equal(0, after.ReservedMicros);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Theory]
    [InlineData("no_usage", false)]
    [InlineData("no_usage", true)]
    [InlineData("bad_usage", false)]
    [InlineData("bad_usage", true)]
    [InlineData("usage=50,20,80", false)]
    [InlineData("usage=10,-20000", true)]
    [InlineData("usage=900000000000,5", false)]
    [InlineData("usage=10,900000000000", true)]
    public async Task MissingOrImpossibleUsage_IsEstimated_AndNeverCreditsAnyone(string sim, bool stream)
    {
        var (account, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        var body = $$"""{"model":"gpt-5.5","input":"What is two plus two?","stream":{{(stream ? "true" : "false")}}}""";
        using var response = await client.SendAsync(Post("v1/responses", body, sim + " text=\"Four, as it always was.\""));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        _ = await response.Content.ReadAsStringAsync();

        var record = await WaitForRecordAsync(_gateway, RequestId(response));
        Assert.True(record.IsEstimated);
        Assert.Equal(Estimator.CountRequestInput(Encoding.UTF8.GetBytes(body)), record.InputTokens);
        Assert.InRange(record.OutputTokens, 0, 1_000);
        Assert.True(record.CostMicros > 0);
        Assert.Equal(record.CostMicros, record.ChargedMicros);
        var after = await AccountAsync(_gateway, account.Id);
        Assert.Equal(Credit - record.ChargedMicros, after.BalanceMicros);
        Assert.True(after.BalanceMicros < Credit);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task PriceChange_AppliesToNewRequestsOnly_AndEachRecordKeepsItsPrices()
    {
        var catalogue = _gateway.Get<PriceCatalog>();
        var old = catalogue.Find("gpt-5.4-mini")!;
        var (_, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);

        // A request admitted before the change, still streaming while the price changes.
        var slow = await client.SendAsync(
            Post("v1/responses", """{"model":"gpt-5.4-mini","input":"slow one","stream":true}""", "usage=1000,500,200 delay_events_ms=100 deltas=8"),
            HttpCompletionOption.ResponseHeadersRead);
        await catalogue.SaveAsync(new ModelPrice
        {
            Model = "gpt-5.4-mini",
            InputMicrosPerMillion = old.InputMicrosPerMillion * 4,
            CachedInputMicrosPerMillion = old.CachedInputMicrosPerMillion * 4,
            OutputMicrosPerMillion = old.OutputMicrosPerMillion * 4,
            ReserveOutputTokens = old.ReserveOutputTokens,
        }, CancellationToken.None);
        for (var i = 0; i < 100 && catalogue.Find("gpt-5.4-mini")!.InputMicrosPerMillion == old.InputMicrosPerMillion; i++)
        {
            await Task.Delay(50);
        }

        _ = await slow.Content.ReadAsStringAsync();
        using var fresh = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.4-mini","input":"new one"}""", "usage=1000,500,200"));
        Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);

        var before = await WaitForRecordAsync(_gateway, RequestId(slow));
        var after = await WaitForRecordAsync(_gateway, RequestId(fresh));
        slow.Dispose();
        var usage = new TokenUsage(1000, 200, 500, 0);
        Assert.Equal(old.InputMicrosPerMillion, before.InputMicrosPerMillion);
        Assert.Equal(old.OutputMicrosPerMillion, before.OutputMicrosPerMillion);
        Assert.Equal(Pricing.Cost(usage, old), before.CostMicros);
        Assert.Equal(4 * old.InputMicrosPerMillion, after.InputMicrosPerMillion);
        Assert.Equal(4 * old.CachedInputMicrosPerMillion, after.CachedInputMicrosPerMillion);
        Assert.Equal(Pricing.Cost(usage, after.InputMicrosPerMillion, after.CachedInputMicrosPerMillion, after.OutputMicrosPerMillion), after.CostMicros);
        Assert.True(after.CostMicros > before.CostMicros);
        Assert.Equal(after.CostMicros.ToString(System.Globalization.CultureInfo.InvariantCulture), Money.FromDollars(decimal.Parse(Header(fresh, "x-tokenpool-cost-usd")!, System.Globalization.CultureInfo.InvariantCulture)).ToString(System.Globalization.CultureInfo.InvariantCulture));
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task ChatStreamWithoutIncludeUsage_TokenPoolAsksUpstream_ClientSeesNoUsageChunk_UsageIsRecorded()
    {
        var (_, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        _gateway.Upstreams[0].ClearRequests();
        using var response = await client.SendAsync(
            Post("v1/chat/completions", """{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}],"stream":true}""", "usage=321,54"),
            HttpCompletionOption.ResponseHeadersRead);
        var requestId = RequestId(response);
        Assert.Equal(requestId, Header(response, GatewayHandler.UsageRecordIdHeader));
        var raw = await response.Content.ReadAsStringAsync();

        var sent = JsonDocument.Parse(_gateway.Upstreams[0].Requests.Single(r => r.Path.EndsWith("/chat/completions", StringComparison.Ordinal)).Body).RootElement;
        Assert.True(sent.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        var chunks = Sse.Parse(raw);
        Assert.NotEmpty(chunks);
        Assert.All(chunks, c => Assert.False(c.TryGetProperty("usage", out var usage) && usage.ValueKind != JsonValueKind.Null));
        Assert.All(chunks, c => Assert.True(c.GetProperty("choices").GetArrayLength() > 0));
        Assert.EndsWith("data: [DONE]", raw.TrimEnd(), StringComparison.Ordinal);

        var record = await WaitForRecordAsync(_gateway, requestId);
        Assert.False(record.IsEstimated);
        Assert.Equal(321, record.InputTokens);
        Assert.Equal(54, record.OutputTokens);
        await _gateway.AssertMoneyInvariantAsync();
    }

    [Fact]
    public async Task ChatStreamWithIncludeUsage_ClientGetsTheUsageChunk()
    {
        var (_, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.SendAsync(Post("v1/chat/completions",
            """{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}""", "usage=321,54"));
        var chunks = Sse.Parse(await response.Content.ReadAsStringAsync());
        var usage = chunks.Last(c => c.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object).GetProperty("usage");
        Assert.Equal(321, usage.GetProperty("prompt_tokens").GetInt64());
        Assert.False((await WaitForRecordAsync(_gateway, RequestId(response))).IsEstimated);
    }

    [Fact]
    public async Task NonStreamedReply_CarriesCostAndUsageRecordIdHeaders_MatchingTheRecord()
    {
        var (_, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.5","input":"hello"}""", "usage=12000,3400,2000,100"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var recordId = Header(response, GatewayHandler.UsageRecordIdHeader);
        Assert.Equal(RequestId(response), recordId);
        var cost = Header(response, "x-tokenpool-cost-usd");
        Assert.NotNull(cost);

        var record = await WaitForRecordAsync(_gateway, recordId!);
        Assert.Equal(record.CostMicros, Money.FromDollars(decimal.Parse(cost, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.Equal(Pricing.Cost(new TokenUsage(12000, 2000, 3400, 100), _gateway.Get<PriceCatalog>().Find("gpt-5.5")!), record.CostMicros);
        Assert.Equal(100, record.ReasoningTokens);
        Assert.Equal(2000, record.CachedInputTokens);
    }

    [Fact]
    public async Task StreamedReply_CarriesUsageRecordIdHeader()
    {
        var (_, key) = await UserWithKeyAsync(_gateway, Credit);
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.SendAsync(Post("v1/responses", """{"model":"gpt-5.5","input":"hello","stream":true}"""), HttpCompletionOption.ResponseHeadersRead);
        var recordId = Header(response, GatewayHandler.UsageRecordIdHeader);
        _ = await response.Content.ReadAsStringAsync();
        Assert.Equal(RequestId(response), recordId);
        var record = await WaitForRecordAsync(_gateway, recordId!);
        Assert.False(record.IsEstimated);
        Assert.True(record.ChargedMicros > 0);
    }
}
