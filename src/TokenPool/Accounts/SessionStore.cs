using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;

namespace TokenPool.Accounts;

/// <summary>A session just started: the token for the browser's cookie (never stored) and its row.</summary>
internal sealed record StartedSession(string Token, AccountSession Session);

/// <summary>
/// Console sessions in the store. A session is a row keyed by the SHA-256 of a random token that only the
/// browser's (encrypted) cookie holds; ending a session deletes its row, so a copied cookie stops working on
/// its next request, on every instance.
/// </summary>
internal sealed class SessionStore(IDbContextFactory<TokenPoolDb> dbFactory, TimeProvider time)
{
    /// <summary>How often, at most, a session's last-seen time is written.</summary>
    private static readonly TimeSpan TouchEvery = TimeSpan.FromMinutes(1);

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public async Task<StartedSession> StartAsync(long accountId, string method, string? clientAddress, string? userAgent, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var token = Base64Url(RandomNumberGenerator.GetBytes(32));
        var now = time.GetUtcNow().UtcDateTime;
        var session = new AccountSession
        {
            AccountId = accountId,
            TokenHash = Hash(token),
            Method = method,
            CreatedAt = now,
            LastSeenAt = now,
            ExpiresAt = now + lifetime,
            ConfirmedAt = now,
            ClientAddress = Bound(clientAddress, 64),
            UserAgent = Bound(userAgent, AccountSession.MaxUserAgentLength),
        };
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await db.Sessions.Where(s => s.AccountId == accountId && s.ExpiresAt < now).ExecuteDeleteAsync(cancellationToken);
        db.Sessions.Add(session);
        await db.SaveChangesAsync(cancellationToken);
        return new StartedSession(token, session);
    }

    /// <summary>The live session a cookie's token belongs to, or null when it was ended or has expired.</summary>
    public async Task<AccountSession?> FindAsync(long accountId, string token, CancellationToken cancellationToken)
    {
        var hash = Hash(token);
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Sessions.AsNoTracking()
            .FirstOrDefaultAsync(s => s.TokenHash == hash && s.AccountId == accountId && s.ExpiresAt > now, cancellationToken);
    }

    /// <summary>Marks the session as used now, extending it by <paramref name="lifetime"/> (written at most once a minute).</summary>
    public async Task TouchAsync(AccountSession session, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (now - session.LastSeenAt < TouchEvery)
        {
            return;
        }

        session.LastSeenAt = now;
        session.ExpiresAt = now + lifetime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await db.Sessions.Where(s => s.Id == session.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.LastSeenAt, now).SetProperty(x => x.ExpiresAt, now + lifetime), cancellationToken);
    }

    /// <summary>Records that the password (and second factor) were entered again in this session; optionally upgrades how it signed in.</summary>
    public async Task ConfirmAsync(AccountSession session, string? method, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        session.ConfirmedAt = now;
        session.Method = method ?? session.Method;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await db.Sessions.Where(s => s.Id == session.Id)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.ConfirmedAt, now).SetProperty(x => x.Method, session.Method), cancellationToken);
    }

    public async Task<List<AccountSession>> ListAsync(long accountId, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Sessions.AsNoTracking()
            .Where(s => s.AccountId == accountId && s.ExpiresAt > now)
            .OrderByDescending(s => s.LastSeenAt)
            .ToListAsync(cancellationToken);
    }

    /// <summary>Ends one of the account's sessions. False when it has no such session.</summary>
    public async Task<bool> EndAsync(long accountId, long sessionId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Sessions.Where(s => s.AccountId == accountId && s.Id == sessionId).ExecuteDeleteAsync(cancellationToken) > 0;
    }

    /// <summary>Ends every session of the account except <paramref name="keepSessionId"/>; returns how many ended.</summary>
    public async Task<int> EndAllAsync(long accountId, long? keepSessionId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await EndAllAsync(db, accountId, keepSessionId, cancellationToken);
    }

    public static Task<int> EndAllAsync(TokenPoolDb db, long accountId, long? keepSessionId, CancellationToken cancellationToken) =>
        db.Sessions.Where(s => s.AccountId == accountId && s.Id != (keepSessionId ?? 0)).ExecuteDeleteAsync(cancellationToken);

    public static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

    /// <summary>Cuts a client-supplied string to what the store keeps.</summary>
    public static string? Bound(string? value, int max) => value is null ? null : value.Length <= max ? value : value[..max];
}
