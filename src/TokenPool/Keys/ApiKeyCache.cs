using System.Collections.Concurrent;
using System.Collections.Frozen;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;

namespace TokenPool.Keys;

/// <summary>
/// Keys by lookup hash, so that a warm request authenticates without a database round trip. Entries
/// are dropped when the change log reports a change to the key or its account: at once for changes made
/// in this process (the console), within the change feed's poll interval for changes made elsewhere (the
/// CLI). Every lease top-up re-checks key and account status in the database as well.
/// </summary>
internal sealed class ApiKeyCache(IDbContextFactory<TokenPoolDb> dbFactory, KeySecrets secrets) : IChangeListener
{
    private static readonly TimeSpan PositiveLifetime = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan NegativeLifetime = TimeSpan.FromSeconds(30);
    private const int MaxEntries = 100_000;

    private readonly ConcurrentDictionary<UInt128, Entry> _entries = new();
    private long _storeReads;

    /// <summary>How many times a key was read from the store since start (cold cache, refresh, or a recheck).</summary>
    public long StoreReads => Interlocked.Read(ref _storeReads);

    /// <summary>Finds the key, from memory when possible. Null when no such key exists.</summary>
    public ValueTask<KeyIdentity?> FindAsync(string key, CancellationToken cancellationToken)
    {
        var cacheKey = secrets.CacheKey(key);
        if (_entries.TryGetValue(cacheKey, out var entry) && entry.ValidUntil > Environment.TickCount64)
        {
            return ValueTask.FromResult(entry.Identity);
        }

        return new ValueTask<KeyIdentity?>(LoadAsync(secrets.LookupHash(key), cacheKey, cancellationToken));
    }

    public string LookupHash(string key) => secrets.LookupHash(key);

    /// <summary>Reads the key from the database, whatever the cache holds, and refreshes the cache.</summary>
    public Task<KeyIdentity?> RefreshAsync(string lookupHash, CancellationToken cancellationToken) =>
        LoadAsync(lookupHash, KeySecrets.CacheKeyFromLookupHash(lookupHash), cancellationToken);

    private async Task<KeyIdentity?> LoadAsync(string lookupHash, UInt128 cacheKey, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _storeReads);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.ApiKeys.AsNoTracking()
            .Where(k => k.LookupHash == lookupHash)
            .Join(db.Accounts, k => k.AccountId, a => a.Id, (k, a) => new { Key = k, Account = a })
            .FirstOrDefaultAsync(cancellationToken);

        KeyIdentity? identity = null;
        if (row is not null)
        {
            var k = row.Key;
            var a = row.Account;
            identity = new KeyIdentity(
                k.Id,
                k.LookupHash,
                k.AccountId,
                ApiKeyFormat.Mask(k.DisplayPrefix, k.Last4),
                k.Status,
                k.ExpiresAt,
                k.DeletedAt,
                a.IsDisabled,
                ParseModels(k.AllowedModels),
                new RequestLimits(k.RequestsPerMinute, k.TokensPerMinute, k.MaxConcurrentRequests),
                new RequestLimits(a.RequestsPerMinute, a.TokensPerMinute, a.MaxConcurrentRequests));
        }

        if (_entries.Count >= MaxEntries)
        {
            _entries.Clear();
        }

        var lifetime = identity is null ? NegativeLifetime : PositiveLifetime;
        _entries[cacheKey] = new Entry(identity, Environment.TickCount64 + (long)lifetime.TotalMilliseconds);
        return identity;
    }

    public void InvalidateKey(long keyId)
    {
        foreach (var (cacheKey, entry) in _entries)
        {
            if (entry.Identity?.KeyId == keyId)
            {
                _entries.TryRemove(cacheKey, out _);
            }
        }
    }

    public void InvalidateAccount(long accountId)
    {
        foreach (var (cacheKey, entry) in _entries)
        {
            if (entry.Identity?.AccountId == accountId)
            {
                _entries.TryRemove(cacheKey, out _);
            }
        }
    }

    public void OnChanged(IReadOnlyList<ChangeLogEntry> changes)
    {
        foreach (var change in changes)
        {
            switch (change.Kind)
            {
                case ChangeKinds.Key when change.EntityId is { } keyId:
                    InvalidateKey(keyId);
                    break;
                case ChangeKinds.Account when change.EntityId is { } accountId:
                    InvalidateAccount(accountId);
                    break;
                case ChangeKinds.Key or ChangeKinds.Account:
                    _entries.Clear();
                    break;
            }
        }

        // A key created by another process may have been looked up (and remembered as unknown) before it existed.
        foreach (var (cacheKey, entry) in _entries)
        {
            if (entry.Identity is null)
            {
                _entries.TryRemove(cacheKey, out _);
            }
        }
    }

    internal static FrozenSet<string>? ParseModels(string? list)
    {
        if (string.IsNullOrWhiteSpace(list))
        {
            return null;
        }

        return list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToFrozenSet(StringComparer.Ordinal);
    }

    private readonly record struct Entry(KeyIdentity? Identity, long ValidUntil);
}
