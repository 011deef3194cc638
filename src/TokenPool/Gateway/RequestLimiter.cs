using System.Collections.Concurrent;
using System.Globalization;
using TokenPool.Keys;

namespace TokenPool.Gateway;

/// <summary>
/// Optional per-key and per-account limits: requests per minute, tokens per minute (sliding 60-second
/// windows) and concurrent requests. Each check-and-take happens under the counter's lock, key before
/// account, so the limits hold exactly however many requests arrive at once. Limits are per instance.
/// </summary>
internal sealed class RequestLimiter
{
    private const long WindowMs = 60_000;
    private readonly ConcurrentDictionary<(bool IsAccount, long Id), Counter> _counters = new();

    /// <summary>Takes a slot for one request, or says which limit refused it and for how long.</summary>
    public LimitDecision TryAcquire(KeyIdentity key, long estimatedTokens, long now)
    {
        if (key.KeyLimits.IsEmpty && key.AccountLimits.IsEmpty)
        {
            return LimitDecision.Unlimited;
        }

        var keyCounter = key.KeyLimits.IsEmpty ? null : _counters.GetOrAdd((false, key.KeyId), _ => new Counter());
        var accountCounter = key.AccountLimits.IsEmpty ? null : _counters.GetOrAdd((true, key.AccountId), _ => new Counter());
        var keyEntry = default(Counter.Entry);
        if (keyCounter is not null)
        {
            var refusal = keyCounter.TryTake(key.KeyLimits, estimatedTokens, now, "API key", out keyEntry);
            if (refusal is not null)
            {
                return refusal;
            }
        }

        var accountEntry = default(Counter.Entry);
        if (accountCounter is not null)
        {
            var refusal = accountCounter.TryTake(key.AccountLimits, estimatedTokens, now, "account", out accountEntry);
            if (refusal is not null)
            {
                keyCounter?.Undo(keyEntry);
                return refusal;
            }
        }

        var headers = (keyCounter ?? accountCounter)!.Headers(keyCounter is not null ? key.KeyLimits : key.AccountLimits, now);
        return new LimitDecision(null, new LimitLease(keyCounter, keyEntry, accountCounter, accountEntry), headers);
    }

    internal sealed class Counter
    {
        private readonly Lock _lock = new();
        private readonly Queue<long> _requests = new();
        private readonly LinkedList<TokenEntry> _tokens = new();
        private long _tokensInWindow;
        private int _concurrent;

        public LimitDecision? TryTake(RequestLimits limits, long estimatedTokens, long now, string scope, out Entry entry)
        {
            entry = default;
            lock (_lock)
            {
                Expire(now);
                if (limits.MaxConcurrentRequests is { } maxConcurrent && _concurrent >= maxConcurrent)
                {
                    return Refuse(GatewayErrors.RateLimited(scope, $"{maxConcurrent} concurrent {(maxConcurrent == 1 ? "request" : "requests")}", TimeSpan.FromSeconds(1)), limits, now);
                }

                if (limits.RequestsPerMinute is { } rpm && _requests.Count >= rpm)
                {
                    var wait = TimeSpan.FromMilliseconds(Math.Max(1, _requests.Peek() + WindowMs - now));
                    return Refuse(GatewayErrors.RateLimited(scope, $"{rpm} {(rpm == 1 ? "request" : "requests")} per minute", wait), limits, now);
                }

                if (limits.TokensPerMinute is { } tpm && _tokensInWindow + estimatedTokens > tpm && _tokens.Count > 0)
                {
                    var wait = TimeSpan.FromMilliseconds(Math.Max(1, _tokens.First!.Value.At + WindowMs - now));
                    return Refuse(GatewayErrors.RateLimited(scope, $"{tpm} {(tpm == 1 ? "token" : "tokens")} per minute", wait), limits, now);
                }

                _concurrent++;
                _requests.Enqueue(now);
                var node = _tokens.AddLast(new TokenEntry(now, estimatedTokens));
                _tokensInWindow += estimatedTokens;
                entry = new Entry(this, node);
                return null;
            }
        }

        public void Undo(Entry entry)
        {
            lock (_lock)
            {
                _concurrent--;
                if (entry.Node?.List is not null)
                {
                    _tokensInWindow -= entry.Node.Value.Tokens;
                    _tokens.Remove(entry.Node);
                }
            }
        }

        public void Release(Entry entry, long actualTokens)
        {
            lock (_lock)
            {
                _concurrent--;
                if (entry.Node?.List is not null)
                {
                    _tokensInWindow += actualTokens - entry.Node.Value.Tokens;
                    entry.Node.Value = entry.Node.Value with { Tokens = actualTokens };
                }
            }
        }

        public IReadOnlyList<KeyValuePair<string, string>> Headers(RequestLimits limits, long now)
        {
            lock (_lock)
            {
                return HeadersLocked(limits, now);
            }
        }

        /// <summary>A refusal that carries the x-ratelimit-* headers too, as OpenAI's 429s do.</summary>
        private LimitDecision Refuse(ApiError error, RequestLimits limits, long now)
        {
            foreach (var (name, value) in HeadersLocked(limits, now))
            {
                error = error.WithHeader(name, value);
            }

            return LimitDecision.Refuse(error);
        }

        private List<KeyValuePair<string, string>> HeadersLocked(RequestLimits limits, long now)
        {
            var headers = new List<KeyValuePair<string, string>>(6);
            if (limits.RequestsPerMinute is { } rpm)
            {
                headers.Add(new("x-ratelimit-limit-requests", rpm.ToString(CultureInfo.InvariantCulture)));
                headers.Add(new("x-ratelimit-remaining-requests", Math.Max(0, rpm - _requests.Count).ToString(CultureInfo.InvariantCulture)));
                headers.Add(new("x-ratelimit-reset-requests", Reset(_requests.Count > 0 ? _requests.Peek() + WindowMs - now : 0)));
            }

            if (limits.TokensPerMinute is { } tpm)
            {
                headers.Add(new("x-ratelimit-limit-tokens", tpm.ToString(CultureInfo.InvariantCulture)));
                headers.Add(new("x-ratelimit-remaining-tokens", Math.Max(0, tpm - _tokensInWindow).ToString(CultureInfo.InvariantCulture)));
                headers.Add(new("x-ratelimit-reset-tokens", Reset(_tokens.Count > 0 ? _tokens.First!.Value.At + WindowMs - now : 0)));
            }

            return headers;
        }

        private void Expire(long now)
        {
            while (_requests.Count > 0 && _requests.Peek() + WindowMs <= now)
            {
                _requests.Dequeue();
            }

            while (_tokens.First is { } first && first.Value.At + WindowMs <= now)
            {
                _tokensInWindow -= first.Value.Tokens;
                _tokens.RemoveFirst();
            }
        }

        private static string Reset(long ms) => ms <= 0 ? "0s" : ms < 1000 ? $"{ms}ms" : $"{Math.Ceiling(ms / 1000.0).ToString(CultureInfo.InvariantCulture)}s";

        public readonly record struct Entry(Counter? Owner, LinkedListNode<TokenEntry>? Node);

        public readonly record struct TokenEntry(long At, long Tokens);
    }

    /// <summary>A request's slot; released (with the request's real token count) when the request ends.</summary>
    internal sealed class LimitLease
    {
        private readonly Counter? _key;
        private readonly Counter.Entry _keyEntry;
        private readonly Counter? _account;
        private readonly Counter.Entry _accountEntry;
        private int _released;

        public LimitLease(Counter? key, Counter.Entry keyEntry, Counter? account, Counter.Entry accountEntry)
        {
            _key = key;
            _keyEntry = keyEntry;
            _account = account;
            _accountEntry = accountEntry;
        }

        public void Release(long actualTokens)
        {
            if (Interlocked.Exchange(ref _released, 1) == 1)
            {
                return;
            }

            _key?.Release(_keyEntry, actualTokens);
            _account?.Release(_accountEntry, actualTokens);
        }
    }
}

/// <summary>The limiter's answer: a refusal, or a lease and the x-ratelimit-* headers to send.</summary>
internal sealed record LimitDecision(ApiError? Refusal, RequestLimiter.LimitLease? Lease, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    public static readonly LimitDecision Unlimited = new(null, null, []);

    public static LimitDecision Refuse(ApiError error) => new(error, null, []);
}
