using TokenPool.Upstreams;

namespace TokenPool.Tests.Upstreams;

public sealed class HealthStatsTests
{
    private const long Minute = 60_000;
    private const long Now = 100 * Minute;
    private static readonly DateTime UtcNow = new(2026, 11, 22, 12, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void RollingCounts_CountRequestsAndErrorsInsideTheWindow()
    {
        var counts = new RollingCounts(buckets: 5, bucketMs: Minute);

        counts.Add(Now, error: false);
        counts.Add(Now + 1, error: true);
        counts.Add(Now + Minute, error: true);

        Assert.Equal((3, 2), counts.Total(Now + Minute));
        Assert.Equal(TimeSpan.FromMinutes(5), counts.Window);
    }

    [Fact]
    public void RollingCounts_ForgetBucketsThatLeftTheWindow_AndReuseThem()
    {
        var counts = new RollingCounts(buckets: 5, bucketMs: Minute);
        counts.Add(Now, error: true);
        counts.Add(Now + (2 * Minute), error: false);

        Assert.Equal((1, 0), counts.Total(Now + (5 * Minute)));
        Assert.Equal((0, 0), counts.Total(Now + (7 * Minute)));

        // Five minutes on, the first bucket's slot is reused for the new minute, starting from zero.
        counts.Add(Now + (5 * Minute), error: false);
        Assert.Equal((2, 0), counts.Total(Now + (5 * Minute)));
    }

    [Fact]
    public void LatencyPercentiles_AreNearestRank()
    {
        var ring = new LatencyRing(128);
        for (var ms = 1; ms <= 100; ms++)
        {
            ring.Add(Now, ms);
        }

        var summary = ring.Summarise(Now, TimeSpan.FromMinutes(15));

        Assert.Equal(new LatencySummary(100, 50, 95, 50), summary);
    }

    [Fact]
    public void LatencyOfOneSample_IsThatSampleForEveryPercentile()
    {
        var ring = new LatencyRing(8);
        ring.Add(Now, 42);

        Assert.Equal(new LatencySummary(1, 42, 42, 42), ring.Summarise(Now, TimeSpan.FromMinutes(1)));
        Assert.Equal(LatencySummary.None, new LatencyRing(8).Summarise(Now, TimeSpan.FromMinutes(1)));
    }

    [Fact]
    public void LatencyRing_KeepsOnlyTheNewestSamples_WhenItWraps()
    {
        var ring = new LatencyRing(4);
        foreach (var ms in new[] { 1000, 1000, 10, 20, 30, 40 })
        {
            ring.Add(Now, ms);
        }

        var summary = ring.Summarise(Now, TimeSpan.FromMinutes(1));

        Assert.Equal(4, ring.Count);
        Assert.Equal(new LatencySummary(4, 20, 40, 25), summary);
    }

    [Fact]
    public void LatencyRing_LeavesOutSamplesOlderThanTheWindow()
    {
        var ring = new LatencyRing(8);
        ring.Add(Now - (10 * Minute), 5000);
        ring.Add(Now, 100);

        Assert.Equal(new LatencySummary(1, 100, 100, 100), ring.Summarise(Now, TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void ErrorRing_WrapsAndListsTheNewestFirst_WithWallClockTimes()
    {
        var ring = new ErrorRing(3);
        for (var i = 1; i <= 5; i++)
        {
            ring.Add(Now + (i * 1000), new UpstreamError(500 + i, null, $"error {i}"));
        }

        var errors = ring.Newest(Now + 5000, UtcNow);

        Assert.Equal(["error 5", "error 4", "error 3"], errors.Select(e => e.Message));
        Assert.Equal([505, 504, 503], errors.Select(e => e.Status));
        Assert.Equal(UtcNow, errors[0].At);
        Assert.Equal(UtcNow.AddSeconds(-2), errors[2].At);
    }

    [Theory]
    [InlineData("invalid_api_key", "invalid_api_key")]
    [InlineData("rate_limit_exceeded", "rate_limit_exceeded")]
    [InlineData("Incorrect API key provided: sk-abc", null)]
    [InlineData("", null)]
    public void ErrorRing_KeepsAnUpstreamErrorCode_OnlyWhenItLooksLikeOne(string code, string? shown)
    {
        var ring = new ErrorRing(2);

        ring.Add(Now, new UpstreamError(401, code, "key rejected"));

        Assert.Equal(shown, ring.Newest(Now, UtcNow)[0].Code);
    }

    [Fact]
    public void KeyHealthReport_GivesErrorRateOverTheWindow_CountingCoolDownsAndRejections()
    {
        var health = new KeyHealth(7, new UpstreamOptions { BreakerWindow = 20, BreakerFailures = 5, HealthWindowMinutes = 15 });

        health.RecordSuccess(100, Now);
        health.RecordSuccess(300, Now);
        health.RecordFailure(new UpstreamError(500, null, "Internal Server Error"), Now);
        health.CoolDown(TimeSpan.FromSeconds(30), new UpstreamError(429, "rate_limit_exceeded", "rate limited"), Now);

        var report = health.Report(Now, UtcNow);

        Assert.Equal(KeyState.CoolingDown, report.State);
        Assert.Equal(UtcNow.AddSeconds(30), report.Until);
        Assert.Equal(4, report.WindowRequests);
        Assert.Equal(2, report.WindowErrors);
        Assert.Equal(0.5, report.ErrorRate);
        Assert.Equal(1, report.BreakerFailures);
        Assert.Equal(3, report.BreakerRequests);
        Assert.Equal(new LatencySummary(2, 100, 300, 200), report.Latency);
        Assert.Equal([429, 500], report.RecentErrors.Select(e => e.Status));

        var later = health.Report(Now + (16 * Minute), UtcNow.AddMinutes(16));
        Assert.Equal(KeyState.Healthy, later.State);
        Assert.Equal(0, later.WindowRequests);
        Assert.Equal(LatencySummary.None, later.Latency);
        Assert.Equal(4, later.Requests);
    }

    [Fact]
    public void KeyHealthReport_ShowsAnOpenCircuitUntilItsProbe_AndResetClosesIt()
    {
        var health = new KeyHealth(7, new UpstreamOptions { BreakerWindow = 4, BreakerFailures = 2, BreakerOpenSeconds = 60 });
        health.RecordFailure(new UpstreamError(500, null, "Internal Server Error"), Now);
        health.RecordFailure(new UpstreamError(502, null, "Bad Gateway"), Now);
        health.CoolDown(TimeSpan.FromSeconds(10), new UpstreamError(429, null, "rate limited"), Now);

        var open = health.Report(Now, UtcNow);
        Assert.Equal(KeyState.CircuitOpen, open.State);
        Assert.Equal(UtcNow.AddSeconds(60), open.Until);

        health.Reset();

        var reset = health.Report(Now, UtcNow);
        Assert.Equal(KeyState.Healthy, reset.State);
        Assert.True(health.IsAvailable(Now));
        Assert.Equal(3, reset.WindowErrors);
        Assert.Equal(0, reset.BreakerRequests);

        health.RecordSuccess(5, Now);
        var after = health.Report(Now, UtcNow);
        Assert.Equal((0, 1), (after.BreakerFailures, after.BreakerRequests));
        Assert.Equal(4, after.WindowRequests);
    }

    [Fact]
    public void RecordingRequests_DoesNotAllocate()
    {
        var health = new KeyHealth(7, new UpstreamOptions { BreakerWindow = 20, BreakerFailures = 1000 });
        var error = new UpstreamError(500, "server_error", "Internal Server Error");
        health.RecordSuccess(10, Now);
        health.RecordFailure(error, Now);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            health.RecordSuccess(i % 500, Now + (i * 100));
            health.RecordFailure(error, Now + (i * 100));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void DisabledKey_IsAvailableAgainOnceEnabled()
    {
        var health = new KeyHealth(7, new UpstreamOptions());
        health.Disable("The upstream rejected this key (401 invalid_api_key).", new UpstreamError(401, "invalid_api_key", "key rejected"), Now);

        var report = health.Report(Now, UtcNow);
        Assert.Equal(KeyState.Disabled, report.State);
        Assert.Equal("The upstream rejected this key (401 invalid_api_key).", report.DisabledReason);
        Assert.Equal(new HealthError(UtcNow, 401, "invalid_api_key", "key rejected"), Assert.Single(report.RecentErrors));

        health.Enable();

        Assert.True(health.IsAvailable(Now));
    }
}
