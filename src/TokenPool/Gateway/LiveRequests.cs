using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.Keys;

namespace TokenPool.Gateway;

/// <summary>
/// The API requests running now, so that TokenPool can end them from outside:
/// <list type="number">
/// <item>when a key is deleted, disabled or expires, or its account is disabled (the change log reports it at once
/// for a change made in this process, within its one-second poll for one made elsewhere), each running request of
/// that key or account is stopped: its stream ends at once with its API's terminal error and it is settled for what
/// was delivered; a leaked key stops now, not when its answers end;</item>
/// <item>when the server's drain deadline passes (<see cref="GatewayDrain.EndStreams"/>), every request still
/// running is stopped the same way.</item>
/// </list>
/// Nothing is read from the store unless a change concerns a key or account with a request running.
/// </summary>
internal sealed partial class LiveRequests : IChangeListener, IDisposable
{
    private readonly ConcurrentDictionary<RequestStop, byte> _running = new();
    private readonly IDbContextFactory<TokenPoolDb> _dbFactory;
    private readonly TimeProvider _time;
    private readonly ILogger<LiveRequests> _logger;
    private readonly CancellationTokenRegistration _drain;

    public LiveRequests(IDbContextFactory<TokenPoolDb> dbFactory, GatewayDrain drain, TimeProvider time, ILogger<LiveRequests> logger)
    {
        _dbFactory = dbFactory;
        _time = time;
        _logger = logger;
        _drain = drain.Deadline.UnsafeRegister(static state => ((LiveRequests)state!).StopAll(StopReason.Draining), this);
    }

    public int Count => _running.Count;

    public RequestStop Register(KeyIdentity key)
    {
        var stop = new RequestStop(key.KeyId, key.AccountId);
        _running.TryAdd(stop, 0);
        return stop;
    }

    public void Unregister(RequestStop stop) => _running.TryRemove(stop, out _);

    public void OnChanged(IReadOnlyList<ChangeLogEntry> changes)
    {
        if (_running.IsEmpty)
        {
            return;
        }

        var keyIds = new HashSet<long>();
        var accountIds = new HashSet<long>();
        var everything = false;
        foreach (var change in changes)
        {
            switch (change.Kind)
            {
                case ChangeKinds.Key when change.EntityId is { } keyId:
                    keyIds.Add(keyId);
                    break;
                case ChangeKinds.Account when change.EntityId is { } accountId:
                    accountIds.Add(accountId);
                    break;
                case ChangeKinds.Key or ChangeKinds.Account:
                    everything = true;
                    break;
            }
        }

        var affected = _running.Keys.Where(s => everything || keyIds.Contains(s.KeyId) || accountIds.Contains(s.AccountId)).ToList();
        if (affected.Count == 0)
        {
            return;
        }

        try
        {
            StopRevoked(affected);
        }
        catch (Exception ex)
        {
            LogCheckFailed(_logger, ex);
        }
    }

    public void Dispose() => _drain.Dispose();

    private void StopRevoked(List<RequestStop> affected)
    {
        var keyIds = affected.Select(s => s.KeyId).Distinct().ToList();
        var accountIds = affected.Select(s => s.AccountId).Distinct().ToList();
        using var db = _dbFactory.CreateDbContext();
        var now = _time.GetUtcNow().UtcDateTime;
        var usableKeys = db.ApiKeys.AsNoTracking()
            .Where(k => keyIds.Contains(k.Id) && k.DeletedAt == null && k.Status != ApiKeyStatus.Disabled)
            .Select(k => new { k.Id, k.ExpiresAt })
            .ToList()
            .Where(k => k.ExpiresAt is null || k.ExpiresAt > now)
            .Select(k => k.Id)
            .ToHashSet();
        var disabledAccounts = db.Accounts.AsNoTracking().Where(a => accountIds.Contains(a.Id) && a.IsDisabled).Select(a => a.Id).ToHashSet();
        foreach (var stop in affected)
        {
            if (disabledAccounts.Contains(stop.AccountId))
            {
                stop.Stop(StopReason.AccountDisabled);
                LogStopped(_logger, stop.KeyId, "its account was disabled");
            }
            else if (!usableKeys.Contains(stop.KeyId))
            {
                stop.Stop(StopReason.KeyRevoked);
                LogStopped(_logger, stop.KeyId, "the key was deleted, disabled or expired");
            }
        }
    }

    private void StopAll(StopReason reason)
    {
        foreach (var stop in _running.Keys)
        {
            stop.Stop(reason);
        }
    }

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "A running request of key {KeyId} was ended: {Why}")]
    private static partial void LogStopped(ILogger logger, long keyId, string why);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Error, Message = "Checking running requests after a key or account change failed")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
