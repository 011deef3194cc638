using TokenPool.Upstreams;

namespace TokenPool.Tests.Upstreams;

public sealed class KeyHealthTests
{
    private const long Now = 1_000_000;
    private static readonly UpstreamOptions Options = new() { BreakerWindow = 4, BreakerFailures = 2, BreakerOpenSeconds = 10, BreakerMaxOpenSeconds = 30, MaxCooldownSeconds = 60 };

    [Fact]
    public void OneError_DoesNotOpenTheBreaker()
    {
        var health = new KeyHealth(1, Options);

        health.RecordFailure("HTTP 500", Now);

        Assert.Equal(BreakerState.Closed, health.State);
        Assert.True(health.IsAvailable(Now));
    }

    [Fact]
    public void XFailuresAmongTheLastNRequests_OpenTheBreaker()
    {
        var health = new KeyHealth(1, Options);

        health.RecordFailure("HTTP 500", Now);
        health.RecordSuccess(10);
        health.RecordFailure("HTTP 502", Now);

        Assert.Equal(BreakerState.Open, health.State);
        Assert.False(health.IsAvailable(Now));
        Assert.Equal(Now + 10_000, health.AvailableAt);
    }

    [Fact]
    public void FailuresThatLeftTheWindow_NoLongerCount()
    {
        var health = new KeyHealth(1, Options);

        health.RecordFailure("HTTP 500", Now);
        for (var i = 0; i < 4; i++)
        {
            health.RecordSuccess(10);
        }

        health.RecordFailure("HTTP 500", Now);

        Assert.Equal(BreakerState.Closed, health.State);
    }

    [Fact]
    public void OpenBreaker_GoesHalfOpenWhenItsPeriodEnds_AndAGoodProbeClosesIt()
    {
        var health = Opened();

        Assert.False(health.ProbeDue(Now + 9_999));
        Assert.True(health.ProbeDue(Now + 10_000));
        Assert.Equal(BreakerState.HalfOpen, health.State);
        Assert.False(health.IsAvailable(Now + 10_000));

        health.ProbeSucceeded();

        Assert.Equal(BreakerState.Closed, health.State);
        Assert.True(health.IsAvailable(Now + 10_000));
        health.RecordFailure("HTTP 500", Now + 10_000);
        Assert.Equal(BreakerState.Closed, health.State);
    }

    [Fact]
    public void FailedProbe_ReopensForTwiceAsLong_UpToTheMaximum()
    {
        var health = Opened();
        var now = Now + 10_000;

        Assert.True(health.ProbeDue(now));
        health.ProbeFailed("probe 500", now);
        Assert.Equal(BreakerState.Open, health.State);
        Assert.Equal(now + 20_000, health.AvailableAt);

        now += 20_000;
        Assert.True(health.ProbeDue(now));
        health.ProbeFailed("probe 500", now);
        Assert.Equal(now + 30_000, health.AvailableAt);
    }

    [Fact]
    public void CoolDown_RestsTheKeyForAsLongAsAsked_CappedAtTheMaximum()
    {
        var health = new KeyHealth(1, Options);

        health.CoolDown(TimeSpan.FromSeconds(3), "429", Now);
        Assert.False(health.IsAvailable(Now + 2_999));
        Assert.True(health.IsAvailable(Now + 3_000));
        Assert.Equal(BreakerState.Closed, health.State);

        health.CoolDown(TimeSpan.FromHours(1), "429", Now);
        Assert.Equal(Now + 60_000, health.CooldownUntil);
    }

    [Fact]
    public void DisabledKey_StaysOutWithItsReason()
    {
        var health = new KeyHealth(1, Options);

        health.Disable("The upstream rejected this key (401).");

        Assert.False(health.IsAvailable(long.MaxValue));
        var report = health.Report();
        Assert.Equal(KeyState.Disabled, report.State);
        Assert.Equal("The upstream rejected this key (401).", report.DisabledReason);
        Assert.False(health.ProbeDue(long.MaxValue));
    }

    private static KeyHealth Opened()
    {
        var health = new KeyHealth(1, Options);
        health.RecordFailure("HTTP 500", Now);
        health.RecordFailure("HTTP 500", Now);
        Assert.Equal(BreakerState.Open, health.State);
        return health;
    }
}
