using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Data;

namespace TokenPool.Keys;

internal sealed record NewKeySettings(
    string Name,
    DateTime? ExpiresAt = null,
    IReadOnlyList<string>? AllowedModels = null,
    long? SpendLimitMicros = null,
    RequestLimits? Limits = null);

internal sealed record CreatedKey(ApiKey Row, string Key);

/// <summary>
/// Every key action of the console and the CLI. Each method takes the owner's account id and acts only
/// on that account's keys, so no caller can reach another account's key by changing an id.
/// </summary>
internal sealed class ApiKeyService(IDbContextFactory<TokenPoolDb> dbFactory, KeySecrets secrets, ChangeFeed changes, TimeProvider time)
{
    public const int MaxActiveKeysPerAccount = 100;

    public async Task<CreatedKey> CreateAsync(long accountId, NewKeySettings settings, string? clientAddress, CancellationToken cancellationToken)
    {
        var name = ValidateName(settings.Name);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var active = await db.ApiKeys.CountAsync(k => k.AccountId == accountId && k.DeletedAt == null, cancellationToken);
        if (active >= MaxActiveKeysPerAccount)
        {
            throw new KeyActionException($"An account can have at most {MaxActiveKeysPerAccount} keys. Delete keys you no longer use first.");
        }

        var (row, key) = NewRow(accountId, name, settings);
        db.ApiKeys.Add(row);
        await db.SaveChangesAsync(cancellationToken);
        db.AuditEvents.Add(Audit(accountId, AuditKinds.KeyCreated, row.Id, clientAddress, $"name: {name}"));
        var change = ChangeFeed.Record(db, ChangeKinds.Key, row.Id);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke(change);
        return new CreatedKey(row, key);
    }

    public async Task<List<ApiKey>> ListAsync(long accountId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.ApiKeys.AsNoTracking()
            .Where(k => k.AccountId == accountId && k.DeletedAt == null)
            .OrderByDescending(k => k.Id)
            .ToListAsync(cancellationToken);
    }

    public async Task<ApiKey?> FindAsync(long accountId, long keyId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.ApiKeys.AsNoTracking()
            .FirstOrDefaultAsync(k => k.Id == keyId && k.AccountId == accountId && k.DeletedAt == null, cancellationToken);
    }

    /// <summary>Decrypts the owner's key and records that it was revealed. Null when the owner has no such key.</summary>
    public async Task<string?> RevealAsync(long accountId, long keyId, string? clientAddress, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.ApiKeys.AsNoTracking()
            .FirstOrDefaultAsync(k => k.Id == keyId && k.AccountId == accountId && k.DeletedAt == null, cancellationToken);
        if (row is null)
        {
            return null;
        }

        db.AuditEvents.Add(Audit(accountId, AuditKinds.KeyRevealed, row.Id, clientAddress, $"name: {row.Name}"));
        await db.SaveChangesAsync(cancellationToken);
        return secrets.UnprotectApiKey(row.ProtectedKey);
    }

    /// <summary>Deletes the key; the next request with it is refused on every instance. False when the owner has no such key.</summary>
    public async Task<bool> DeleteAsync(long accountId, long keyId, string? clientAddress, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var deleted = await db.ApiKeys
            .Where(k => k.Id == keyId && k.AccountId == accountId && k.DeletedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(k => k.DeletedAt, now), cancellationToken);
        if (deleted == 0)
        {
            return false;
        }

        db.AuditEvents.Add(Audit(accountId, AuditKinds.KeyDeleted, keyId, clientAddress, null));
        var change = ChangeFeed.Record(db, ChangeKinds.Key, keyId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke(change);
        return true;
    }

    /// <summary>
    /// Changes a key's name, expiry, model allow-list and spend limit (the key itself stays the same); the next
    /// request with it sees the new settings on every instance. False when the owner has no such key.
    /// </summary>
    public async Task<bool> UpdateAsync(long accountId, long keyId, NewKeySettings settings, string? clientAddress, CancellationToken cancellationToken)
    {
        var name = ValidateName(settings.Name);
        var models = settings.AllowedModels is { Count: > 0 } list
            ? string.Join(',', list.Select(m => m.Trim()).Where(m => m.Length > 0).Distinct(StringComparer.Ordinal))
            : null;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var updated = await db.ApiKeys
            .Where(k => k.Id == keyId && k.AccountId == accountId && k.DeletedAt == null)
            .ExecuteUpdateAsync(
                s => s.SetProperty(k => k.Name, name)
                    .SetProperty(k => k.ExpiresAt, settings.ExpiresAt)
                    .SetProperty(k => k.AllowedModels, string.IsNullOrEmpty(models) ? null : models)
                    .SetProperty(k => k.SpendLimitMicros, settings.SpendLimitMicros),
                cancellationToken);
        if (updated == 0)
        {
            return false;
        }

        db.AuditEvents.Add(Audit(accountId, AuditKinds.KeyUpdated, keyId, clientAddress, $"name: {name}"));
        var change = ChangeFeed.Record(db, ChangeKinds.Key, keyId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke(change);
        return true;
    }

    /// <summary>
    /// Sets the key's requests-per-minute, tokens-per-minute and concurrent-request limits (null: no limit);
    /// every instance applies them to the key's next request. False when the owner has no such key.
    /// </summary>
    public async Task<bool> SetLimitsAsync(long accountId, long keyId, RequestLimits limits, string? clientAddress, CancellationToken cancellationToken)
    {
        RequestLimits.Validate(limits);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var updated = await db.ApiKeys
            .Where(k => k.Id == keyId && k.AccountId == accountId && k.DeletedAt == null)
            .ExecuteUpdateAsync(
                s => s.SetProperty(k => k.RequestsPerMinute, limits.RequestsPerMinute)
                    .SetProperty(k => k.TokensPerMinute, limits.TokensPerMinute)
                    .SetProperty(k => k.MaxConcurrentRequests, limits.MaxConcurrentRequests),
                cancellationToken);
        if (updated == 0)
        {
            return false;
        }

        db.AuditEvents.Add(Audit(accountId, AuditKinds.KeyLimitsChanged, keyId, clientAddress, limits.Describe()));
        var change = ChangeFeed.Record(db, ChangeKinds.Key, keyId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke(change);
        return true;
    }

    /// <summary>Deletes the key and creates a new one with the same name and settings, in one step.</summary>
    public async Task<CreatedKey?> RotateAsync(long accountId, long keyId, string? clientAddress, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var old = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == keyId && k.AccountId == accountId && k.DeletedAt == null, cancellationToken);
        if (old is null)
        {
            return null;
        }

        var settings = new NewKeySettings(
            old.Name,
            old.ExpiresAt,
            KeyModels(old.AllowedModels),
            old.SpendLimitMicros,
            new RequestLimits(old.RequestsPerMinute, old.TokensPerMinute, old.MaxConcurrentRequests));
        var (row, key) = NewRow(accountId, old.Name, settings);
        db.ApiKeys.Add(row);
        await db.SaveChangesAsync(cancellationToken);

        old.DeletedAt = time.GetUtcNow().UtcDateTime;
        old.ReplacedByKeyId = row.Id;
        db.AuditEvents.Add(Audit(accountId, AuditKinds.KeyRotated, old.Id, clientAddress, $"replaced by key {row.Id}"));
        var oldChange = ChangeFeed.Record(db, ChangeKinds.Key, old.Id);
        var change = ChangeFeed.Record(db, ChangeKinds.Key, row.Id);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        changes.Poke(oldChange);
        changes.Poke(change);
        return new CreatedKey(row, key);
    }

    public async Task<List<AuditEvent>> AuditLogAsync(long accountId, int take, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.AuditEvents.AsNoTracking()
            .Where(e => e.AccountId == accountId)
            .OrderByDescending(e => e.Id)
            .Take(take)
            .ToListAsync(cancellationToken);
    }

    private (ApiKey Row, string Key) NewRow(long accountId, string name, NewKeySettings settings)
    {
        var limits = settings.Limits ?? RequestLimits.None;
        RequestLimits.Validate(limits);
        var key = ApiKeyFormat.Generate();
        var models = settings.AllowedModels is { Count: > 0 } list
            ? string.Join(',', list.Select(m => m.Trim()).Where(m => m.Length > 0).Distinct(StringComparer.Ordinal))
            : null;
        var row = new ApiKey
        {
            AccountId = accountId,
            Name = name,
            LookupHash = secrets.LookupHash(key),
            ProtectedKey = secrets.ProtectApiKey(key),
            DisplayPrefix = ApiKeyFormat.DisplayPrefix(key),
            Last4 = ApiKeyFormat.Last4(key),
            Status = ApiKeyStatus.Active,
            CreatedAt = time.GetUtcNow().UtcDateTime,
            ExpiresAt = settings.ExpiresAt,
            AllowedModels = string.IsNullOrEmpty(models) ? null : models,
            SpendLimitMicros = settings.SpendLimitMicros,
            RequestsPerMinute = limits.RequestsPerMinute,
            TokensPerMinute = limits.TokensPerMinute,
            MaxConcurrentRequests = limits.MaxConcurrentRequests,
        };
        return (row, key);
    }

    private AuditEvent Audit(long accountId, string kind, long? keyId, string? clientAddress, string? detail) => new()
    {
        AccountId = accountId,
        Kind = kind,
        KeyId = keyId,
        ClientAddress = clientAddress,
        Detail = detail,
        CreatedAt = time.GetUtcNow().UtcDateTime,
    };

    private static string ValidateName(string name)
    {
        var trimmed = name.Trim();
        if (trimmed.Length is 0 or > 100)
        {
            throw new KeyActionException("A key name must be 1 to 100 characters, e.g. \"laptop\" or \"ci\".");
        }

        return trimmed;
    }

    private static List<string>? KeyModels(string? list) =>
        string.IsNullOrWhiteSpace(list) ? null : [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}

/// <summary>A key action that cannot be done as asked; the message says why, for the user.</summary>
internal sealed class KeyActionException(string message) : Exception(message);
