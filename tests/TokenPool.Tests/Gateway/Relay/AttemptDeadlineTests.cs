using System.Diagnostics;
using TokenPool.Gateway.Relay;

namespace TokenPool.Tests.Gateway.Relay;

public sealed class AttemptDeadlineTests
{
    private static long InSeconds(double seconds) => Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);

    [Fact]
    public void NoTimeLeft_CancelsAtOnce_AsTheTotalTime()
    {
        using var deadline = new AttemptDeadline(CancellationToken.None, InSeconds(-1));

        Assert.True(deadline.Token.IsCancellationRequested);
        Assert.True(deadline.Expired(DeadlinePhase.Total));
    }

    [Fact]
    public async Task APhaseThatRanOut_KeepsTheBlame_WhenTheNextPhaseIsEntered()
    {
        using var deadline = new AttemptDeadline(CancellationToken.None, InSeconds(60));
        deadline.Enter(DeadlinePhase.Headers, TimeSpan.FromMilliseconds(20));
        await WaitForAsync(deadline.Token);

        deadline.Enter(DeadlinePhase.Idle, TimeSpan.FromSeconds(30));

        Assert.True(deadline.Expired(DeadlinePhase.Headers));
        Assert.False(deadline.Expired(DeadlinePhase.Idle));
        Assert.False(deadline.Expired(DeadlinePhase.Total));
    }

    [Fact]
    public async Task HeadersArrivingAsTheirTimerFires_StillCount()
    {
        using var deadline = new AttemptDeadline(CancellationToken.None, InSeconds(60));
        deadline.Enter(DeadlinePhase.Headers, TimeSpan.FromMilliseconds(20));
        await WaitForAsync(deadline.Token);

        deadline.HeadersArrived();

        Assert.False(deadline.Token.IsCancellationRequested);
        Assert.False(deadline.Expired(DeadlinePhase.Headers));
    }

    [Fact]
    public async Task TheTotalTime_EndsAPhaseWithALongerLimit()
    {
        using var deadline = new AttemptDeadline(CancellationToken.None, InSeconds(0.05));
        deadline.Enter(DeadlinePhase.Idle, TimeSpan.FromSeconds(30));
        await WaitForAsync(deadline.Token);

        Assert.True(deadline.Expired(DeadlinePhase.Total));
        Assert.False(deadline.Expired(DeadlinePhase.Idle));
    }

    [Fact]
    public void TheClientGoingAway_IsNoTimeout()
    {
        using var client = new CancellationTokenSource();
        using var deadline = new AttemptDeadline(client.Token, InSeconds(60));
        deadline.Enter(DeadlinePhase.Headers, TimeSpan.FromSeconds(30));

        client.Cancel();

        Assert.True(deadline.Token.IsCancellationRequested);
        Assert.False(deadline.Expired(DeadlinePhase.Headers));
        Assert.False(deadline.Expired(DeadlinePhase.Total));
        deadline.HeadersArrived();
        Assert.True(deadline.Token.IsCancellationRequested);
    }

    private static async Task WaitForAsync(CancellationToken token)
    {
        var fired = new TaskCompletionSource();
        using var registration = token.Register(() => fired.TrySetResult());
        await fired.Task.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
    }
}
