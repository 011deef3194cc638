using System.Net;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Upstreams;

/// <summary>
/// Issue 5, failover: a primary channel (priority 10) that misbehaves and a healthy backup (priority 0).
/// Failures before the first byte move to the backup; request errors and failures after the first byte do not.
/// </summary>
public sealed class FailoverTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private HttpClient _client = null!;
    private long _accountId;

    private SimulatorHost Primary => _gateway.Upstreams[0];

    private SimulatorHost Backup => _gateway.Upstreams[1];

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { Priority = 10, ResponseHeadersTimeoutSeconds = 3 });
            o.ChannelList.Add(new TestChannel { Priority = 0 });
            o.Settings["Upstreams:BreakerWindow"] = "4";
            o.Settings["Upstreams:BreakerFailures"] = "2";
            o.Settings["Upstreams:BreakerOpenSeconds"] = "1";
        });
        var (account, key) = await _gateway.CreateAccountKeyAsync(10m);
        _accountId = account.Id;
        _client = _gateway.ClientWithKey(key);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
    }

    [Theory]
    [InlineData("status=429 retry_after=30", "429")]
    [InlineData("status=500", "500")]
    [InlineData("status=502", "502")]
    [InlineData("status=503", "503")]
    [InlineData("status=504", "504")]
    [InlineData("close_after_headers", "200")]
    [InlineData("delay_headers_ms=8000", "headers_timeout")]
    public async Task FailureBeforeTheFirstByte_FailsOverToTheNextChannel(string fault, string firstAttempt)
    {
        Primary.ForcedFaults = SimulatorFaults.Parse(fault);

        using var response = await _client.PostAsync("v1/responses", Api.Responses(stream: true));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var (events, _, raw) = await Api.ReadStreamAsync(response);
        Assert.Equal("response.completed", events[^1].Type());
        Assert.DoesNotContain("response.failed", raw, StringComparison.Ordinal);
        Assert.Equal(1, Primary.RequestCount);
        Assert.Equal(1, Backup.RequestCount);
        var record = Assert.Single(await _gateway.UsageRecordsAsync());
        Assert.Equal(_gateway.ChannelIds[1], record.ChannelId);
        Assert.Equal($"{_gateway.ChannelIds[0]}:{_gateway.ChannelKeyIds[0]}:{firstAttempt} {_gateway.ChannelIds[1]}:{_gateway.ChannelKeyIds[1]}:200", record.Attempts);
    }

    [Fact]
    public async Task ConnectionRefused_FailsOverToTheNextChannel()
    {
        await using var gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { Priority = 10, Unreachable = true });
            o.ChannelList.Add(new TestChannel());
        });
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());

        using var response = await client.PostAsync("v1/chat/completions", Api.Chat());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var record = Assert.Single(await gateway.UsageRecordsAsync());
        Assert.StartsWith($"{gateway.ChannelIds[0]}:{gateway.ChannelKeyIds[0]}:ConnectionError ", record.Attempts, StringComparison.Ordinal);
        Assert.Equal(1, gateway.Upstreams[1].RequestCount);
    }

    [Theory]
    [InlineData(400, "invalid_value")]
    [InlineData(404, "model_not_found")]
    [InlineData(413, "request_too_large")]
    [InlineData(422, "invalid_value")]
    public async Task RequestErrors_AreNotRetried_AndReachTheClientAsTheUpstreamSentThem(int status, string code)
    {
        Primary.ForcedFaults = new SimulatorFaults { Status = status, Code = code };

        using var response = await _client.PostAsync("v1/responses", Api.Responses(stream: true));

        await Api.AssertErrorAsync(response, (HttpStatusCode)status, code);
        Assert.Equal(1, Primary.RequestCount);
        Assert.Equal(0, Backup.RequestCount);
        Assert.Equal(BreakerState.Closed, _gateway.Get<UpstreamPool>().Health(_gateway.ChannelKeyIds[0]).State);
    }

    [Fact]
    public async Task FailureAfterTheFirstByte_IsNeverRetried()
    {
        Primary.ForcedFaults = new SimulatorFaults { DropAfter = 3, DelayEventsMs = 50 };

        using var response = await _client.PostAsync("v1/responses", Api.Responses(stream: true));

        var (events, _, _) = await Api.ReadStreamAsync(response);
        Assert.Equal("response.created", events[0].Type());
        Assert.Equal("response.failed", events[^1].Type());
        Assert.Equal(0, Backup.RequestCount);
        var record = Assert.Single(await _gateway.UsageRecordsAsync());
        Assert.Equal("upstream_cut", record.Outcome);
    }

    [Fact]
    public async Task RetryAfter_PutsTheKeyInCoolDownForThatLong()
    {
        Primary.ForcedFaults = new SimulatorFaults { Status = 429, RetryAfter = 2 };
        (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        Primary.ForcedFaults = null;
        var rateLimitedAt = DateTime.UtcNow;

        (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        Assert.Equal(1, Primary.RequestCount);
        Assert.Equal(2, Backup.RequestCount);

        var rest = rateLimitedAt.AddSeconds(2.2) - DateTime.UtcNow;
        if (rest > TimeSpan.Zero)
        {
            await Task.Delay(rest);
        }

        (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        Assert.Equal(2, Primary.RequestCount);
        Assert.Equal(2, Backup.RequestCount);
    }

    [Fact]
    public async Task CircuitBreaker_OpensAfterXFailuresInN_NotOnOne_AndRecoversThroughAHalfOpenProbe()
    {
        var health = _gateway.Get<UpstreamPool>().Health(_gateway.ChannelKeyIds[0]);
        Primary.ForcedFaults = new SimulatorFaults { Status = 500 };

        (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        Assert.Equal(BreakerState.Closed, health.State);
        (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        Assert.NotEqual(BreakerState.Closed, health.State);

        for (var i = 0; i < 5; i++)
        {
            (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        }

        Assert.Equal(2, Primary.Requests.Count(r => !r.Body.Contains("\"ping\"", StringComparison.Ordinal)));
        Primary.ForcedFaults = null;

        Assert.True(await Api.EventuallyAsync(() => health.State == BreakerState.Closed, TimeSpan.FromSeconds(6)), $"the breaker stayed {health.State}");
        var probe = Primary.Requests.Last();
        Assert.Contains("\"ping\"", probe.Body, StringComparison.Ordinal);
        Assert.Contains("max_output_tokens", probe.Body, StringComparison.Ordinal);

        Primary.ClearRequests();
        (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        Assert.Equal(1, Primary.RequestCount);
    }

    [Fact]
    public async Task CircuitBreaker_StaysOpenWhileTheProbeFails()
    {
        var health = _gateway.Get<UpstreamPool>().Health(_gateway.ChannelKeyIds[0]);
        Primary.ForcedFaults = new SimulatorFaults { Status = 503 };
        for (var i = 0; i < 3; i++)
        {
            (await _client.PostAsync("v1/chat/completions", Api.Chat())).EnsureSuccessStatusCode().Dispose();
        }

        Assert.True(await Api.EventuallyAsync(() => Primary.Requests.Any(r => r.Body.Contains("\"ping\"", StringComparison.Ordinal)), TimeSpan.FromSeconds(5)));

        // The simulator sees the probe before the gateway has read its answer; wait for the verdict too.
        Assert.True(await Api.EventuallyAsync(
            () => health.Report().RecentErrors.Any(e => e is { Status: 503, Message: "health probe failed" }), TimeSpan.FromSeconds(5)));
        Assert.NotEqual(BreakerState.Closed, health.State);
    }

    [Theory]
    [InlineData(401, null, "rejected this key (401")]
    [InlineData(402, null, "requires payment")]
    [InlineData(429, "insufficient_quota", "out of credit")]
    public async Task InvalidOrOutOfCreditUpstreamKey_IsDisabledWithTheReason(int status, string? code, string reason)
    {
        Primary.ForcedFaults = new SimulatorFaults { Status = status, Code = code };

        (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        Primary.ForcedFaults = null;
        for (var i = 0; i < 3; i++)
        {
            (await _client.PostAsync("v1/responses", Api.Responses())).EnsureSuccessStatusCode().Dispose();
        }

        Assert.Equal(1, Primary.RequestCount);
        Assert.Contains(reason, _gateway.Get<UpstreamPool>().Health(_gateway.ChannelKeyIds[0]).DisabledReason, StringComparison.Ordinal);
        await using var db = await _gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        var row = await db.ChannelKeys.SingleAsync(k => k.Id == _gateway.ChannelKeyIds[0]);
        Assert.False(row.IsEnabled);
        Assert.Contains(reason, row.DisabledReason, StringComparison.Ordinal);
        Assert.NotNull(row.DisabledAt);
    }

    [Fact]
    public async Task OneRequest_IsOneUsageRecordAndOneCharge_HoweverManyAttempts()
    {
        Primary.ForcedFaults = new SimulatorFaults { Status = 500 };
        var before = await _gateway.BalanceAsync(_accountId);

        using var response = await _client.PostAsync("v1/chat/completions", Api.Chat(stream: true, extra: ""","stream_options":{"include_usage":true}"""));
        var (chunks, done, _) = await Api.ReadStreamAsync(response);

        Assert.True(done);
        var usage = chunks[^1].GetProperty("usage");
        var record = Assert.Single(await _gateway.UsageRecordsAsync());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt64(), record.InputTokens);
        Assert.Equal(usage.GetProperty("completion_tokens").GetInt64(), record.OutputTokens);
        Assert.True(record.CostMicros > 0);
        Assert.Equal(2, record.Attempts!.Split(' ').Length);
        Assert.EndsWith(":200", record.Attempts, StringComparison.Ordinal);
        Assert.Equal(before - record.CostMicros, await _gateway.BalanceAsync(_accountId));
        await using var db = await _gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        Assert.Equal(0, await db.Reservations.CountAsync());
    }
}
