using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using TokenPool.Accounts;

namespace TokenPool.WebConsole;

/// <summary>One kind of guess counted by <see cref="SignInThrottle"/>: how many are free, and how the waits grow after.</summary>
internal sealed record ThrottleRule(string Name, int FreeAttempts, TimeSpan FirstDelay, TimeSpan MaxDelay, TimeSpan Forget);

/// <summary>
/// Slows down guessing without locking anyone out: for each subject (a client address, an account, a known
/// browser, a network), the first <see cref="ThrottleRule.FreeAttempts"/> counted attempts go through; after
/// that each one must wait <see cref="ThrottleRule.FirstDelay"/>, doubled for every further attempt, at most
/// <see cref="ThrottleRule.MaxDelay"/>, after the last. Counts are forgotten <see cref="ThrottleRule.Forget"/>
/// after the last attempt.
/// <para>
/// The rules the console uses: wrong passwords per client address and per account (its longest wait is short,
/// so others' guesses delay the owner only boundedly), per known browser (a browser that signed in to the
/// account before skips the address and account counts), wrong codes per account, and sign-ups and reset
/// requests per address and network. Held in memory: a restart forgives, and each instance counts for itself.
/// </para>
/// </summary>
internal sealed class SignInThrottle
{
    private const int PruneAbove = 50_000;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public SignInThrottle(IOptions<ConsoleOptions> console, IOptions<AccountOptions> accounts, TimeProvider time)
    {
        _time = time;
        var c = console.Value;
        var first = TimeSpan.FromSeconds(c.ThrottleFirstDelaySeconds);
        var window = TimeSpan.FromSeconds(c.ThrottleWindowSeconds);
        ThrottleRule Rule(string name, int free, TimeSpan max) =>
            new(name, free, first < max ? first : max, max, window > 2 * max ? window : 2 * max);
        PasswordsFromAddress = Rule("pw-ip", c.MaxWrongPasswordsPerAddress, TimeSpan.FromSeconds(c.MaxAddressDelaySeconds));
        PasswordsForAccount = Rule("pw-account", c.MaxWrongPasswordsPerAccount, TimeSpan.FromSeconds(c.MaxAccountDelaySeconds));
        PasswordsFromDevice = Rule("pw-device", c.MaxWrongPasswordsPerAccount, TimeSpan.FromSeconds(c.MaxAddressDelaySeconds));
        CodesForAccount = Rule("code-account", c.MaxWrongCodesPerAccount, TimeSpan.FromSeconds(c.MaxAddressDelaySeconds));
        CodesFromAddress = Rule("code-ip", c.MaxWrongPasswordsPerAddress, TimeSpan.FromSeconds(c.MaxAddressDelaySeconds));
        var a = accounts.Value;
        var day = TimeSpan.FromDays(1);
        SignUpsFromAddress = new ThrottleRule("signup-ip", a.MaxSignUpsPerAddress, TimeSpan.FromMinutes(10), day, day);
        SignUpsFromNetwork = new ThrottleRule("signup-net", a.MaxSignUpsPerNetwork, TimeSpan.FromMinutes(10), day, day);
        ResetsFromAddress = new ThrottleRule("reset-ip", a.MaxResetRequestsPerAddress, TimeSpan.FromMinutes(1), TimeSpan.FromHours(1), TimeSpan.FromHours(2));
        ResetMailsForAccount = new ThrottleRule("reset-account", a.MaxResetMailsPerAccount, TimeSpan.FromMinutes(10), TimeSpan.FromHours(1), TimeSpan.FromHours(2));
    }

    public ThrottleRule PasswordsFromAddress { get; }

    public ThrottleRule PasswordsForAccount { get; }

    public ThrottleRule PasswordsFromDevice { get; }

    public ThrottleRule CodesForAccount { get; }

    public ThrottleRule CodesFromAddress { get; }

    public ThrottleRule SignUpsFromAddress { get; }

    public ThrottleRule SignUpsFromNetwork { get; }

    public ThrottleRule ResetsFromAddress { get; }

    public ThrottleRule ResetMailsForAccount { get; }

    /// <summary>How long the subject must still wait under the rule, or null when an attempt may go ahead now.</summary>
    public TimeSpan? RetryAfter(ThrottleRule rule, string? subject)
    {
        if (subject is null || !_entries.TryGetValue(Key(rule, subject), out var entry))
        {
            return null;
        }

        var now = _time.GetUtcNow();
        lock (entry)
        {
            if (now - entry.Last >= rule.Forget || entry.Count < rule.FreeAttempts)
            {
                return null;
            }

            var until = entry.Last + Delay(rule, entry.Count);
            return until > now ? until - now : null;
        }
    }

    /// <summary>The longest of several waits (null when none applies).</summary>
    public static TimeSpan? Longest(params TimeSpan?[] waits) => waits.Max();

    /// <summary>Counts one attempt (a wrong guess, a sign-up, a reset request) against the subject.</summary>
    public void Record(ThrottleRule rule, string? subject)
    {
        if (subject is null)
        {
            return;
        }

        var now = _time.GetUtcNow();
        if (_entries.Count > PruneAbove)
        {
            Prune(now);
        }

        var entry = _entries.GetOrAdd(Key(rule, subject), _ => new Entry());
        lock (entry)
        {
            entry.Count = now - entry.Last >= rule.Forget ? 1 : entry.Count + 1;
            entry.Last = now;
        }
    }

    /// <summary>Forgets the subject's count (the owner got in).</summary>
    public void Forgive(ThrottleRule rule, string? subject)
    {
        if (subject is not null)
        {
            _entries.TryRemove(Key(rule, subject), out _);
        }
    }

    /// <summary>The network an address belongs to for sign-up counting: its /24 (IPv4) or /64 (IPv6).</summary>
    public static string? Network(string? address)
    {
        if (address is null || !IPAddress.TryParse(address, out var ip))
        {
            return address;
        }

        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        var bytes = ip.GetAddressBytes();
        return ip.AddressFamily == AddressFamily.InterNetwork
            ? new IPNetwork(new IPAddress([bytes[0], bytes[1], bytes[2], 0]), 24).ToString()
            : new IPNetwork(new IPAddress([.. bytes[..8], .. new byte[8]]), 64).ToString();
    }

    /// <summary>How a wait reads on a page: "in 40 seconds", "in 3 minutes".</summary>
    public static string InWords(TimeSpan wait)
    {
        if (wait < TimeSpan.FromSeconds(60))
        {
            var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
            return seconds == 1 ? "in a second" : $"in {seconds} seconds";
        }

        var minutes = (int)Math.Ceiling(wait.TotalMinutes);
        return minutes == 1 ? "in a minute" : $"in {minutes} minutes";
    }

    /// <summary>The message shown when a password attempt is refused.</summary>
    public static string Message(TimeSpan wait) =>
        $"Too many wrong passwords. For your account's safety, sign-in is paused: try again {InWords(wait)}. "
        + "If you forgot your password, use \"Forgot your password?\" below.";

    /// <summary>The message shown when a code attempt is refused: the same whichever account it was for.</summary>
    public static string CodeMessage(TimeSpan wait) =>
        $"Too many wrong codes. For your account's safety, codes are paused: try again {InWords(wait)}.";

    private static TimeSpan Delay(ThrottleRule rule, int count)
    {
        var doublings = Math.Min(count - rule.FreeAttempts, 30);
        var ticks = rule.FirstDelay.Ticks * (1L << doublings);
        return ticks <= 0 || ticks > rule.MaxDelay.Ticks ? rule.MaxDelay : TimeSpan.FromTicks(ticks);
    }

    private static string Key(ThrottleRule rule, string subject) => rule.Name + ":" + subject;

    private void Prune(DateTimeOffset now)
    {
        foreach (var (key, entry) in _entries)
        {
            if (now - entry.Last > TimeSpan.FromDays(1))
            {
                _entries.TryRemove(key, out _);
            }
        }
    }

    private sealed class Entry
    {
        public int Count;
        public DateTimeOffset Last;
    }
}
