using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace TokenPool.WebConsole;

/// <summary>
/// Counts wrong passwords per account and per client address over a sliding window, and refuses further
/// attempts once either count reaches its limit. Held in memory: a restart forgives, which is acceptable
/// for a window of minutes.
/// </summary>
internal sealed class SignInThrottle(IOptions<ConsoleOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Queue<DateTimeOffset>> _failures = new(StringComparer.Ordinal);

    /// <summary>When the caller may try again, or null when an attempt is allowed now.</summary>
    public TimeSpan? RetryAfter(string account, string? address)
    {
        var settings = options.Value;
        var now = time.GetUtcNow();
        var accountWait = Wait(AccountKey(account), settings.MaxWrongPasswordsPerAccount, now);
        var addressWait = address is null ? null : Wait(AddressKey(address), settings.MaxWrongPasswordsPerAddress, now);
        return (accountWait, addressWait) switch
        {
            (null, null) => null,
            ({ } a, null) => a,
            (null, { } b) => b,
            ({ } a, { } b) => a > b ? a : b,
        };
    }

    public void RecordFailure(string account, string? address)
    {
        var now = time.GetUtcNow();
        Add(AccountKey(account), now);
        if (address is not null)
        {
            Add(AddressKey(address), now);
        }
    }

    public void RecordSuccess(string account) => _failures.TryRemove(AccountKey(account), out _);

    /// <summary>The message shown when an attempt is refused.</summary>
    public static string Message(TimeSpan wait)
    {
        var minutes = (int)Math.Ceiling(wait.TotalMinutes);
        var when = minutes <= 1 ? "in a minute" : $"in {minutes} minutes";
        return $"Too many wrong passwords. For your account's safety, sign-in is paused: try again {when}. "
            + "If you forgot your password, ask your TokenPool administrator to reset it.";
    }

    private static string AccountKey(string account) => "a:" + Accounts.AccountService.Normalize(account);

    private static string AddressKey(string address) => "ip:" + address;

    private TimeSpan? Wait(string key, int limit, DateTimeOffset now)
    {
        if (!_failures.TryGetValue(key, out var queue))
        {
            return null;
        }

        var window = TimeSpan.FromSeconds(options.Value.ThrottleWindowSeconds);
        lock (queue)
        {
            while (queue.Count > 0 && now - queue.Peek() >= window)
            {
                queue.Dequeue();
            }

            if (queue.Count < limit)
            {
                return null;
            }

            // Allowed again when enough old failures leave the window to drop below the limit.
            var oldestThatMustExpire = queue.ElementAt(queue.Count - limit);
            return oldestThatMustExpire + window - now;
        }
    }

    private void Add(string key, DateTimeOffset now)
    {
        var queue = _failures.GetOrAdd(key, _ => new Queue<DateTimeOffset>());
        var window = TimeSpan.FromSeconds(options.Value.ThrottleWindowSeconds);
        lock (queue)
        {
            while (queue.Count > 0 && now - queue.Peek() >= window)
            {
                queue.Dequeue();
            }

            queue.Enqueue(now);
        }
    }
}
