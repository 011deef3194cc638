using System.Collections.Concurrent;

namespace TokenPool.Upstreams;

/// <summary>
/// Keeps one agent session on one upstream key while that key is healthy, so prompt caches keep hitting
/// and encrypted reasoning items (readable only by the upstream account that made them) stay valid.
/// A session is named by the first of: the <c>previous_response_id</c> chain, <c>prompt_cache_key</c>,
/// Codex's <c>session-id</c>, OpenCode's <c>x-session-affinity</c> / <c>x-session-id</c>, or
/// <c>x-codex-turn-state</c>; always within the account, so sessions of different people never meet.
/// </summary>
internal sealed class SessionAffinity
{
    private static readonly long LifetimeMs = (long)TimeSpan.FromHours(2).TotalMilliseconds;
    private const int MaxSessions = 200_000;

    private readonly ConcurrentDictionary<string, PinEntry> _pins = new(StringComparer.Ordinal);

    public int Count => _pins.Count;

    /// <summary>The session's name, or null when the request carries none.</summary>
    public static string? SessionName(HttpRequest request, string? promptCacheKey, string? previousResponseId, long accountId)
    {
        if (previousResponseId is { Length: > 0 })
        {
            return $"{accountId}:resp:{previousResponseId}";
        }

        var name = promptCacheKey is { Length: > 0 } ? promptCacheKey
            : Header(request, "session-id") ?? Header(request, "x-session-affinity") ?? Header(request, "x-session-id")
            ?? Header(request, "x-codex-turn-state");
        return name is null ? null : $"{accountId}:{name}";
    }

    public long? Find(string? session)
    {
        if (session is null || !_pins.TryGetValue(session, out var pin))
        {
            return null;
        }

        var now = Environment.TickCount64;
        if (now - pin.LastUsed > LifetimeMs)
        {
            _pins.TryRemove(session, out _);
            return null;
        }

        return pin.KeyId;
    }

    public void Pin(string? session, long keyId)
    {
        if (session is null)
        {
            return;
        }

        if (_pins.Count >= MaxSessions)
        {
            Sweep();
        }

        _pins[session] = new PinEntry(keyId, Environment.TickCount64);
    }

    /// <summary>Lets a later request that names this response as its <c>previous_response_id</c> find the same key.</summary>
    public void RememberResponse(long accountId, string? responseId, long keyId)
    {
        if (responseId is { Length: > 0 })
        {
            Pin($"{accountId}:resp:{responseId}", keyId);
        }
    }

    private void Sweep()
    {
        var now = Environment.TickCount64;
        foreach (var (session, pin) in _pins)
        {
            if (now - pin.LastUsed > LifetimeMs / 4)
            {
                _pins.TryRemove(session, out _);
            }
        }

        if (_pins.Count >= MaxSessions)
        {
            _pins.Clear();
        }
    }

    private static string? Header(HttpRequest request, string name) =>
        request.Headers.TryGetValue(name, out var value) && value.Count > 0 && !string.IsNullOrEmpty(value[0]) ? value[0] : null;

    private readonly record struct PinEntry(long KeyId, long LastUsed);
}
