using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;

namespace TokenPool.Accounts;

/// <summary>
/// Single-use tokens for links sent by mail (password reset, email verification). The link carries 32 random
/// bytes; the store keeps their SHA-256 only, with an expiry; spending one is a single atomic update, so two
/// uses of the same link cannot both succeed.
/// </summary>
internal sealed class OneTimeTokens(IDbContextFactory<TokenPoolDb> dbFactory, TimeProvider time)
{
    /// <summary>A token is at most this long in a link; anything longer is not one of ours.</summary>
    public const int MaxTokenLength = 64;

    public async Task<string> IssueAsync(long accountId, string purpose, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var token = SessionStore.Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await db.AccountTokens.Where(t => t.AccountId == accountId && t.ExpiresAt < now).ExecuteDeleteAsync(cancellationToken);
        db.AccountTokens.Add(new AccountToken
        {
            AccountId = accountId,
            Purpose = purpose,
            TokenHash = SessionStore.Hash(token),
            CreatedAt = now,
            ExpiresAt = now + lifetime,
        });
        await db.SaveChangesAsync(cancellationToken);
        return token;
    }

    /// <summary>The account a live (unused, unexpired) token belongs to, without spending it.</summary>
    public async Task<long?> FindAsync(string? token, string purpose, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(token) || token.Length > MaxTokenLength)
        {
            return null;
        }

        var hash = SessionStore.Hash(token);
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.AccountTokens.AsNoTracking()
            .Where(t => t.TokenHash == hash && t.Purpose == purpose && t.UsedAt == null && t.ExpiresAt > now)
            .Select(t => new { t.AccountId })
            .FirstOrDefaultAsync(cancellationToken);
        return row?.AccountId;
    }

    /// <summary>Spends a live token: returns its account, or null when it is unknown, expired or already used.</summary>
    public async Task<long?> SpendAsync(string? token, string purpose, CancellationToken cancellationToken)
    {
        if (await FindAsync(token, purpose, cancellationToken) is not { } accountId)
        {
            return null;
        }

        var hash = SessionStore.Hash(token!);
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var spent = await db.AccountTokens
            .Where(t => t.TokenHash == hash && t.Purpose == purpose && t.UsedAt == null && t.ExpiresAt > now)
            .ExecuteUpdateAsync(s => s.SetProperty(t => t.UsedAt, now), cancellationToken);
        return spent == 1 ? accountId : null;
    }

    /// <summary>
    /// Records a value (a passkey ceremony's challenge) as used; false when it was used before. The unique index on
    /// the hash makes this hold across instances.
    /// </summary>
    public async Task<bool> UseOnceAsync(long accountId, string purpose, byte[] value, TimeSpan keep, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        db.AccountTokens.Add(new AccountToken
        {
            AccountId = accountId,
            Purpose = purpose,
            TokenHash = Convert.ToHexStringLower(SHA256.HashData(value)),
            CreatedAt = now,
            ExpiresAt = now + keep,
            UsedAt = now,
        });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return true;
        }
        catch (DbUpdateException)
        {
            return false;
        }
    }
}
