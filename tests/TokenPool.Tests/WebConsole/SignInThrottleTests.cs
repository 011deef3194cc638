using Microsoft.Extensions.Options;
using TokenPool.WebConsole;

namespace TokenPool.Tests.WebConsole;

public sealed class SignInThrottleTests
{
    private readonly ManualClock _clock = new();
    private readonly SignInThrottle _throttle;

    public SignInThrottleTests() =>
        _throttle = new SignInThrottle(
            Options.Create(new ConsoleOptions { MaxWrongPasswordsPerAccount = 3, MaxWrongPasswordsPerAddress = 5, ThrottleWindowSeconds = 600 }),
            _clock);

    [Fact]
    public void Account_IsPaused_AtTheLimit_UntilTheOldestFailureLeavesTheWindow()
    {
        _throttle.RecordFailure("Erin@Example.com", "10.0.0.1");
        _clock.Advance(TimeSpan.FromMinutes(1));
        _throttle.RecordFailure("erin@example.com", "10.0.0.2");
        Assert.Null(_throttle.RetryAfter("erin@example.com", "10.0.0.3"));
        _throttle.RecordFailure(" erin@example.com ", "10.0.0.3");

        Assert.Equal(TimeSpan.FromMinutes(9), _throttle.RetryAfter("erin@example.com", "10.0.0.4"));
        _clock.Advance(TimeSpan.FromMinutes(9));
        Assert.Null(_throttle.RetryAfter("erin@example.com", "10.0.0.4"));
    }

    [Fact]
    public void Address_IsPaused_AcrossAccounts()
    {
        for (var i = 0; i < 5; i++)
        {
            _throttle.RecordFailure($"guess{i}@example.com", "10.0.0.9");
        }

        Assert.NotNull(_throttle.RetryAfter("someone-else@example.com", "10.0.0.9"));
        Assert.Null(_throttle.RetryAfter("someone-else@example.com", "10.0.0.10"));
    }

    [Fact]
    public void Success_ForgivesTheAccount_ButNotTheAddress()
    {
        for (var i = 0; i < 2; i++)
        {
            _throttle.RecordFailure("frank@example.com", "10.0.0.1");
        }

        _throttle.RecordSuccess("frank@example.com");
        _throttle.RecordFailure("frank@example.com", "10.0.0.1");
        _throttle.RecordFailure("frank@example.com", "10.0.0.1");
        Assert.Null(_throttle.RetryAfter("frank@example.com", null));
        _throttle.RecordFailure("grace@example.com", "10.0.0.1");
        Assert.NotNull(_throttle.RetryAfter("heidi@example.com", "10.0.0.1"));
    }

    [Theory]
    [InlineData(30, "try again in a minute")]
    [InlineData(8 * 60 + 1, "try again in 9 minutes")]
    public void Message_SaysWhenToTryAgain(int seconds, string expected) =>
        Assert.Contains(expected, SignInThrottle.Message(TimeSpan.FromSeconds(seconds)), StringComparison.Ordinal);

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
