using Microsoft.Extensions.Options;
using TokenPool.Accounts;
using TokenPool.WebConsole;

namespace TokenPool.Tests.WebConsole;

public sealed class SignInThrottleTests
{
    private readonly ManualClock _clock = new();
    private readonly SignInThrottle _throttle;

    public SignInThrottleTests() =>
        _throttle = new SignInThrottle(
            Options.Create(new ConsoleOptions
            {
                MaxWrongPasswordsPerAccount = 3,
                MaxWrongPasswordsPerAddress = 5,
                ThrottleFirstDelaySeconds = 2,
                MaxAccountDelaySeconds = 60,
                MaxAddressDelaySeconds = 900,
                ThrottleWindowSeconds = 600,
            }),
            Options.Create(new AccountOptions()),
            _clock);

    [Fact]
    public void FreeAttempts_GoThrough_ThenEachWaitDoubles_UpToTheLongestWait()
    {
        var rule = _throttle.PasswordsForAccount;
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(_throttle.RetryAfter(rule, "erin"));
            _throttle.Record(rule, "erin");
        }

        var waits = new List<TimeSpan>();
        for (var i = 0; i < 8; i++)
        {
            var wait = _throttle.RetryAfter(rule, "erin");
            Assert.NotNull(wait);
            waits.Add(wait.Value);
            _clock.Advance(wait.Value);
            Assert.Null(_throttle.RetryAfter(rule, "erin"));
            _throttle.Record(rule, "erin");
        }

        Assert.Equal([2, 4, 8, 16, 32, 60, 60, 60], waits.Select(w => (int)w.TotalSeconds));
    }

    [Fact]
    public void Counts_AreForgotten_AWindowAfterTheLastAttempt_AndPerSubject()
    {
        var rule = _throttle.PasswordsFromAddress;
        for (var i = 0; i < 5; i++)
        {
            _throttle.Record(rule, "10.0.0.1");
        }

        Assert.Equal(TimeSpan.FromSeconds(2), _throttle.RetryAfter(rule, "10.0.0.1"));
        Assert.Null(_throttle.RetryAfter(rule, "10.0.0.2"));
        Assert.Null(_throttle.RetryAfter(_throttle.PasswordsForAccount, "10.0.0.1"));

        // The window is at least twice the longest wait (900 s here), whatever is configured.
        _clock.Advance(TimeSpan.FromSeconds(1799));
        _throttle.Record(rule, "10.0.0.1");
        Assert.Equal(TimeSpan.FromSeconds(4), _throttle.RetryAfter(rule, "10.0.0.1"));
        _clock.Advance(TimeSpan.FromSeconds(1800));
        Assert.Null(_throttle.RetryAfter(rule, "10.0.0.1"));
        _throttle.Record(rule, "10.0.0.1");
        Assert.Null(_throttle.RetryAfter(rule, "10.0.0.1"));
    }

    [Fact]
    public void Forgive_ClearsTheSubjectsCount()
    {
        var rule = _throttle.PasswordsForAccount;
        for (var i = 0; i < 4; i++)
        {
            _throttle.Record(rule, "frank");
        }

        Assert.NotNull(_throttle.RetryAfter(rule, "frank"));
        _throttle.Forgive(rule, "frank");
        Assert.Null(_throttle.RetryAfter(rule, "frank"));
    }

    [Theory]
    [InlineData("203.0.113.7", "203.0.113.0/24")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.0/24")]
    [InlineData("2001:db8:5:6:1:2:3:4", "2001:db8:5:6::/64")]
    [InlineData(null, null)]
    public void Network_IsThe24OrThe64(string? address, string? network) =>
        Assert.Equal(network, SignInThrottle.Network(address));

    [Theory]
    [InlineData(0.2, "in a second")]
    [InlineData(40, "in 40 seconds")]
    [InlineData(61, "in 2 minutes")]
    public void Waits_ReadAsWords(double seconds, string words) =>
        Assert.Equal(words, SignInThrottle.InWords(TimeSpan.FromSeconds(seconds)));

    private sealed class ManualClock : TimeProvider
    {
        private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => _now;

        public void Advance(TimeSpan by) => _now += by;
    }
}
