using System.Collections.Concurrent;

namespace TokenPool.Simulator;

/// <summary>
/// The Responses the simulated upstream keeps (<c>store</c> is true unless the request says false, as on
/// OpenAI), so that <c>previous_response_id</c> works as it does upstream: the stored conversation counts
/// as input of the next request, an unknown id (or one stored under another key) is refused with
/// <c>previous_response_not_found</c>. Bounded: the oldest are forgotten first.
/// </summary>
internal sealed class ResponseStore
{
    private const int Capacity = 5000;
    private readonly ConcurrentDictionary<string, (string Fingerprint, long Tokens)> _responses = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();

    public void Add(string responseId, string fingerprint, long conversationTokens)
    {
        _responses[responseId] = (fingerprint, conversationTokens);
        _order.Enqueue(responseId);
        while (_order.Count > Capacity && _order.TryDequeue(out var oldest))
        {
            _responses.TryRemove(oldest, out _);
        }
    }

    /// <summary>The tokens of the stored conversation (its input and output), if this key stored it.</summary>
    public long? Tokens(string responseId, string fingerprint) =>
        _responses.TryGetValue(responseId, out var stored) && stored.Fingerprint == fingerprint ? stored.Tokens : null;
}
