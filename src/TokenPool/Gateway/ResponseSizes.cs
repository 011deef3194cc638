using System.Collections.Concurrent;

namespace TokenPool.Gateway;

/// <summary>
/// How large the conversation behind each stored response is, as its upstream reported it (input plus output
/// tokens), so that a later request naming it as <c>previous_response_id</c> is held for the input the upstream will
/// really bill, not for the few tokens in its body. Kept in memory per instance and bounded: the oldest half is
/// forgotten when it is full, and an entry lives for the time an upstream keeps a response around (30 days at
/// OpenAI, far longer than a process usually runs). A response TokenPool does not know is held at the model's
/// context window instead.
/// </summary>
internal sealed class ResponseSizes
{
    public const int Capacity = 200_000;

    private readonly ConcurrentDictionary<(long AccountId, string ResponseId), Entry> _sizes = new();
    private long _sequence;

    public int Count => _sizes.Count;

    public void Remember(long accountId, string responseId, long tokens)
    {
        if (_sizes.Count >= Capacity)
        {
            ForgetOldest();
        }

        _sizes[(accountId, responseId)] = new Entry(tokens, Interlocked.Increment(ref _sequence));
    }

    /// <summary>The tokens behind a response of this account, or null when TokenPool did not see it.</summary>
    public long? Find(long accountId, string responseId) =>
        _sizes.TryGetValue((accountId, responseId), out var entry) ? entry.Tokens : null;

    private void ForgetOldest()
    {
        var cutoff = Interlocked.Read(ref _sequence) - (Capacity / 2);
        foreach (var (key, entry) in _sizes)
        {
            if (entry.Sequence <= cutoff)
            {
                _sizes.TryRemove(key, out _);
            }
        }
    }

    private readonly record struct Entry(long Tokens, long Sequence);
}
