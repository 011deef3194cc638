using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using TokenPool.Data;
using TokenPool.Keys;

namespace TokenPool.Billing;

internal enum ReserveOutcome
{
    Reserved,

    /// <summary>The key is deleted, disabled or expired (the key row says which).</summary>
    KeyRefused,

    /// <summary>The key's own spend limit has no room for this request.</summary>
    KeySpendLimit,

    AccountDisabled,

    /// <summary>The account balance has no room for this request.</summary>
    InsufficientQuota,
}

/// <summary>
/// Holds and releases money for requests. THE MONEY INVARIANT, which every change to balances keeps and
/// <see cref="MoneyInvariant"/> checks against the store (the tests run it after every concurrency and
/// fault scenario):
/// <code>
///   per account:
///     credited_micros == sum(ledger.amount_micros)                    credit comes only from the ledger
///     charged_micros  == sum(usage_records.charged_micros)            charges only from settled requests
///     reserved_micros == sum(reservations.amount_micros)              holds only in leases
///     balance_micros  == credited_micros - charged_micros - reserved_micros
///     balance_micros  &gt;= -overdraft                                   no account spends beyond its bound
///   per key:
///     charged_micros  == sum(usage_records.charged_micros of the key)
///     reserved_micros == sum(reservations.amount_micros of the key)
///     charged_micros  &lt;= spend_limit_micros + overdraft               when the key has a limit
///   per lease (one reservations row per gateway instance, account and key):
///     amount_micros == what its requests in flight hold + its free room (in that instance's memory)
///   per request:
///     holds from one lease; settled at most once (its usage record's request id decides);
///     0 &lt;= charged &lt;= cost, so a request never credits anyone, whatever usage the upstream reported;
///     a lease whose instance died is released by <see cref="ReservationReconciler"/>, and requests that were
///     in flight in it are charged nothing.
/// </code>
/// Hence, once nothing is in flight and leases are returned: balance = credits - sum of settled costs.
///
/// A lease top-up is one atomic step of the store (<see cref="ILedgerStore.TopUpAsync"/>): the key row (still active,
/// not expired, spend limit not exceeded), the account row (enabled, balance covers the amount) and the lease row change
/// together or not at all. Because the check and the hold are the same conditional UPDATE, no number of
/// concurrent requests, in this process or any other, can reserve more than the balance. A request whose
/// reserve its lease's free room covers holds it in memory without touching the store; a top-up reserves
/// room for <see cref="BillingOptions.LeaseRequests"/> such requests at once, or exactly what is needed when
/// the balance or the key's limit has less; unused room goes back to the balance when the key has been idle
/// for <see cref="BillingOptions.LeaseIdleSeconds"/>, when the key or account changes, and at shutdown.
/// </summary>
internal sealed partial class QuotaLedger(ILedgerStore store, IOptions<BillingOptions> options, ILogger<QuotaLedger> logger) : IChangeListener
{
    private const string LeasePrefix = "lease_";

    /// <summary>A lease row outlives the latest request that holds from it by this much, so its expiry is rarely moved.</summary>
    private static readonly TimeSpan ExpirySlack = TimeSpan.FromMinutes(10);

    private readonly ConcurrentQueue<PendingReservation> _pending = new();
    private readonly ConcurrentDictionary<(long AccountId, long KeyId), Lease> _leases = new();
    private readonly int _leaseRequests = options.Value.LeaseRequests;

    /// <summary>The most a busy lease's refills grow to, in multiples of <see cref="BillingOptions.LeaseRequests"/>.</summary>
    private const int MaxRefillScale = 16;
    private readonly long _idleTicks = options.Value.LeaseIdleSeconds * 1000L;
    private readonly TimeSpan _waitForRoom = TimeSpan.FromMilliseconds(options.Value.WaitForRoomMilliseconds);
    private readonly ConcurrentDictionary<long, AccountRoom> _rooms = new();

    // Requests finished and not yet written, with what they still hold: a request queued twice gives its room back once.
    private readonly ConcurrentDictionary<string, long> _finished = new(StringComparer.Ordinal);
    private long _topUps;

    public long OverdraftMicros { get; } = options.Value.OverdraftMicros;

    /// <summary>Names this process's leases; a new one each start.</summary>
    public string InstanceId { get; } = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>The start of the id of every lease of this process.</summary>
    public string LeaseIdPrefix => LeasePrefix + InstanceId + "_";

    /// <summary>How many times a lease was topped up in the store since start.</summary>
    public long TopUps => Interlocked.Read(ref _topUps);

    public static bool IsLease(string reservationId) => reservationId.StartsWith(LeasePrefix, StringComparison.Ordinal);

    /// <summary>The instance a lease row belongs to (its id is <c>lease_&lt;instance&gt;_&lt;account&gt;_&lt;key&gt;</c>); null for other rows.</summary>
    public static string? LeaseInstance(string reservationId) =>
        IsLease(reservationId) && reservationId.IndexOf('_', LeasePrefix.Length) is var end and > 0 ? reservationId[LeasePrefix.Length..end] : null;

    public string LeaseId(long accountId, long keyId) =>
        string.Create(CultureInfo.InvariantCulture, $"{LeaseIdPrefix}{accountId}_{keyId}");

    /// <summary>Leases this process holds now.</summary>
    public int LeaseCount => _leases.Count;

    /// <summary>The room this process has reserved in all its leases and no request holds.</summary>
    public long LeaseUnusedMicros
    {
        get
        {
            long unused = 0;
            foreach (var lease in _leases.Values)
            {
                unused += lease.Unused;
            }

            return unused;
        }
    }

    /// <summary>The room this process has reserved for the account (or one of its keys) and no request holds.</summary>
    public long UnusedMicros(long accountId, long? keyId = null)
    {
        long unused = 0;
        foreach (var ((account, key), lease) in _leases)
        {
            if (account == accountId && (keyId is null || key == keyId))
            {
                unused += lease.Unused;
            }
        }

        return unused;
    }

    /// <summary>
    /// Reserves <paramref name="amountMicros"/> for one request that may run until <paramref name="expiresAt"/>:
    /// from the lease's free room when it covers the amount, otherwise by topping the lease up in the store.
    /// Top-ups that arrive while the writer is busy are written together in one transaction by whichever of
    /// them takes the write lock next (a group commit), each with its own checks. Once queued, a top-up is
    /// carried out even if the caller is cancelled; what it reserved stays in the lease.
    /// </summary>
    public async ValueTask<ReserveOutcome> ReserveAsync(
        KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt, CancellationToken cancellationToken)
    {
        var room = _rooms.GetOrAdd(key.AccountId, static _ => new AccountRoom());
        var waitUntil = 0L;
        while (true)
        {
            var changed = room.Changed;
            var outcome = await HoldAsync(key, amountMicros, now, expiresAt, cancellationToken);
            if (outcome == ReserveOutcome.Reserved)
            {
                Interlocked.Increment(ref room.InFlight);
                return outcome;
            }

            // No room now, but requests of this account are in flight: what they hold and do not spend comes back as they
            // finish. Wait for that (boundedly) instead of refusing a burst the balance can pay for.
            if (outcome is not (ReserveOutcome.InsufficientQuota or ReserveOutcome.KeySpendLimit) || Volatile.Read(ref room.InFlight) == 0 || _waitForRoom <= TimeSpan.Zero)
            {
                return outcome;
            }

            waitUntil = waitUntil == 0 ? Environment.TickCount64 + (long)_waitForRoom.TotalMilliseconds : waitUntil;
            var left = waitUntil - Environment.TickCount64;
            if (left <= 0)
            {
                return outcome;
            }

            try
            {
                await changed.WaitAsync(TimeSpan.FromMilliseconds(left), cancellationToken);
            }
            catch (TimeoutException)
            {
                return outcome;
            }
        }
    }

    /// <summary>
    /// A request that held from its key's lease has finished and queued its settlement: what it held beyond its cost is
    /// free at once for the account's next request (the settlement then takes only the cost off the lease row), and
    /// requests waiting for room try again. Returns the settlement as it is to be written.
    /// </summary>
    public Settlement Finished(Settlement settlement)
    {
        if (!settlement.HasReservation)
        {
            return settlement;
        }

        var record = settlement.Record;
        var unspent = Math.Max(0, settlement.ReservedMicros - Math.Max(0, record.CostMicros));
        if (!_finished.TryAdd(record.RequestId, settlement.ReservedMicros - unspent))
        {
            return AsFinished(settlement);
        }

        if (unspent > 0 && _leases.TryGetValue((record.AccountId, record.KeyId), out var lease))
        {
            lease.GiveBack(unspent, record.CreatedAt);
            settlement = settlement with { ReservedMicros = settlement.ReservedMicros - unspent };
        }
        else
        {
            _finished[record.RequestId] = settlement.ReservedMicros;
        }

        if (_rooms.TryGetValue(record.AccountId, out var room))
        {
            Interlocked.Decrement(ref room.InFlight);
            room.Signal();
        }

        return settlement;
    }

    /// <summary>The settlement as <see cref="Finished"/> made it, when its request finished already (a settlement written twice).</summary>
    public Settlement AsFinished(Settlement settlement) =>
        settlement.HasReservation && _finished.TryGetValue(settlement.Record.RequestId, out var held) ? settlement with { ReservedMicros = held } : settlement;

    /// <summary>A settlement batch was written: its requests are settled, and the accounts' waiting requests try again.</summary>
    public void Settled(IEnumerable<string> requestIds, IEnumerable<long> accountIds)
    {
        foreach (var requestId in requestIds)
        {
            _finished.TryRemove(requestId, out _);
        }

        foreach (var accountId in accountIds)
        {
            if (_rooms.TryGetValue(accountId, out var room))
            {
                room.Signal();
            }
        }
    }

    /// <summary>Holds the amount from the lease, or by topping it up; see <see cref="ReserveAsync"/>.</summary>
    private async ValueTask<ReserveOutcome> HoldAsync(
        KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(amountMicros);
        cancellationToken.ThrowIfCancellationRequested();
        var lease = _leases.GetOrAdd((key.AccountId, key.KeyId), static (k, ledger) => new Lease(ledger.LeaseId(k.AccountId, k.KeyId), k.AccountId, k.KeyId), this);
        if (lease.TryHold(amountMicros, expiresAt, Environment.TickCount64, out var freeAfter))
        {
            // Running low: top the lease up now, off this request's path, so that the next requests need not wait for it.
            if (_leaseRequests >= 4 && freeAfter < SaturatingProduct(amountMicros, _leaseRequests / 4 * lease.RefillScale) && !lease.RefillRefused
                && lease.TopUpGate.Wait(0, CancellationToken.None))
            {
                _ = RefillAsync(lease, key, amountMicros, now, expiresAt);
            }

            return ReserveOutcome.Reserved;
        }

        await lease.TopUpGate.WaitAsync(cancellationToken);
        try
        {
            return lease.TryHold(amountMicros, expiresAt, Environment.TickCount64, out _)
                ? ReserveOutcome.Reserved
                : await TopUpAsync(lease, key, amountMicros, now, expiresAt);
        }
        finally
        {
            lease.TopUpGate.Release();
        }
    }

    /// <summary>
    /// Adds room for <see cref="BillingOptions.LeaseRequests"/> more requests like this one to a lease that runs low.
    /// Called holding the lease's gate, which it releases. A refusal (no balance or limit room for that much) stops
    /// refills until a request tops the lease up itself, exactly as it would without refills.
    /// </summary>
    private async Task RefillAsync(Lease lease, KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt)
    {
        try
        {
            var generation = lease.Generation;
            var added = SaturatingProduct(amountMicros, _leaseRequests * lease.NoteRefill(Environment.TickCount64, MaxRefillScale));
            var until = LeaseUntil(lease, expiresAt);
            if (await WriteTopUpAsync(lease, key, added, now, until, Applied(lease, generation, claimed: 0, added, held: 0, until)) != ReserveOutcome.Reserved)
            {
                lease.RefillRefused = true;
            }
        }
        catch (Exception ex)
        {
            lease.RefillRefused = true;
            LogRefillFailed(logger, lease.Id, ex);
        }
        finally
        {
            lease.TopUpGate.Release();
        }
    }

    /// <summary>Tops the lease up by enough for this request and, when the balance and limits allow, for many more like it.</summary>
    private async Task<ReserveOutcome> TopUpAsync(Lease lease, KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt)
    {
        var generation = lease.Generation;
        var claimed = lease.Claim();
        var need = Math.Max(0, amountMicros - claimed);
        var generous = need == 0 ? 0 : Math.Max(need, SaturatingProduct(amountMicros, _leaseRequests) - claimed);
        var until = LeaseUntil(lease, expiresAt);
        var outcome = await WriteTopUpAsync(lease, key, generous, now, until, Applied(lease, generation, claimed, generous, amountMicros, until));
        if (outcome is ReserveOutcome.InsufficientQuota or ReserveOutcome.KeySpendLimit && generous > need)
        {
            outcome = await WriteTopUpAsync(lease, key, need, now, until, Applied(lease, generation, claimed, need, amountMicros, until));
        }

        if (outcome == ReserveOutcome.InsufficientQuota && await ReturnUnusedAsync(l => l.AccountId == key.AccountId && l != lease, CancellationToken.None) > 0)
        {
            // Room this process held for the account's other keys is back in the balance; it may be enough.
            outcome = await WriteTopUpAsync(lease, key, need, now, until, Applied(lease, generation, claimed, need, amountMicros, until));
        }

        if (outcome != ReserveOutcome.Reserved)
        {
            lease.Unclaim(generation, claimed);
        }

        return outcome;
    }

    /// <summary>The lease's expiry once it covers a request that may run until <paramref name="expiresAt"/>.</summary>
    private static DateTime LeaseUntil(Lease lease, DateTime expiresAt)
    {
        var until = expiresAt + ExpirySlack;
        return lease.ExpiresAt > until ? lease.ExpiresAt : until;
    }

    /// <summary>What a committed top-up changes in memory: <paramref name="added"/> joins the claimed room, less the request's hold.</summary>
    private Action Applied(Lease lease, long generation, long claimed, long added, long held, DateTime until) => () =>
    {
        Interlocked.Increment(ref _topUps);
        lease.RefillRefused = false;
        lease.CompleteTopUp(generation, claimed, added, held, until, Environment.TickCount64);
    };

    /// <summary>Writes a top-up; <paramref name="applied"/> updates the lease in memory under the same lock, once it is committed.</summary>
    private async Task<ReserveOutcome> WriteTopUpAsync(Lease lease, KeyIdentity key, long amountMicros, DateTime now, DateTime expiresAt, Action applied)
    {
        var pending = new PendingReservation(lease.Id, key, amountMicros, now, expiresAt) { Applied = applied };
        _pending.Enqueue(pending);
        await store.WriteLock.WaitAsync(CancellationToken.None);
        try
        {
            if (!pending.Outcome.Task.IsCompleted)
            {
                await ReserveQueuedAsync();
            }
        }
        finally
        {
            store.WriteLock.Release();
        }

        return await pending.Outcome.Task;
    }

    /// <summary>
    /// Gives the unused room of the chosen leases (and whatever is already returning from any lease) back to
    /// the balance, in one transaction. Returns how much went back.
    /// </summary>
    public async Task<long> ReturnUnusedAsync(Func<Lease, bool> includeFree, CancellationToken cancellationToken)
    {
        if (!_leases.Values.Any(l => l.Unused > 0))
        {
            return 0;
        }

        // Under the write lock, so that the room leaves memory and reaches the balance in the store as one step for
        // anyone who reads both (see ReadWithLeasesAsync).
        await store.WriteLock.WaitAsync(cancellationToken);
        var returns = new List<(Lease Lease, long Amount)>();
        try
        {
            var now = Environment.TickCount64;
            foreach (var lease in _leases.Values)
            {
                var amount = lease.TakeForReturn(includeFree(lease), now, _idleTicks);
                if (amount > 0)
                {
                    returns.Add((lease, amount));
                }
            }

            if (returns.Count == 0)
            {
                return 0;
            }

            var released = await store.ReleaseAsync([.. returns.Select(r => new LeaseRelease(r.Lease.Id, r.Lease.AccountId, r.Lease.KeyId, r.Amount))]);
            for (var i = 0; i < released.Length; i++)
            {
                if (!released[i])
                {
                    LogLeaseShort(logger, returns[i].Lease.Id, returns[i].Amount);
                }
            }
        }
        catch (Exception ex)
        {
            returns.ForEach(r => r.Lease.ReturnFailed(r.Amount));
            LogReturnFailed(logger, returns.Count, ex);
            return 0;
        }
        finally
        {
            store.WriteLock.Release();
        }

        return returns.Sum(r => r.Amount);
    }

    /// <summary>
    /// Runs <paramref name="read"/> (a read of balances from the store that adds <see cref="UnusedMicros"/>) while no
    /// top-up, return or settlement moves money between the store and the leases, so the sum is exact.
    /// </summary>
    public async Task<T> ReadWithLeasesAsync<T>(Func<Task<T>> read, CancellationToken cancellationToken)
    {
        await store.WriteLock.WaitAsync(cancellationToken);
        try
        {
            return await read();
        }
        finally
        {
            store.WriteLock.Release();
        }
    }

    /// <summary>
    /// Takes all the unused room of the account's leases out of memory, for a settlement that will move it back to
    /// the balance in its own transaction; on failure, give each back with <see cref="Lease.ReturnFailed"/>.
    /// </summary>
    public List<(Lease Lease, long Amount)> TakeUnused(long accountId)
    {
        var taken = new List<(Lease Lease, long Amount)>();
        foreach (var ((account, _), lease) in _leases)
        {
            if (account == accountId && lease.TakeForReturn(includeFree: true, 0, 0) is > 0 and var amount)
            {
                taken.Add((lease, amount));
            }
        }

        return taken;
    }

    /// <summary>Returns the room that has been idle long enough, and whatever changes of keys and accounts retired.</summary>
    public Task<long> ReturnIdleAsync(CancellationToken cancellationToken) => ReturnUnusedAsync(_ => false, cancellationToken);

    /// <summary>Returns every lease's unused room (at shutdown, and for reading exact balances in tests).</summary>
    public Task<long> ReturnAllUnusedAsync(CancellationToken cancellationToken) => ReturnUnusedAsync(_ => true, cancellationToken);

    /// <summary>The ids of this process's leases of the given accounts (which a settlement may drain).</summary>
    public IEnumerable<string> LeaseIdsOf(IReadOnlySet<long> accountIds) =>
        _leases.Where(l => accountIds.Contains(l.Key.AccountId)).Select(l => l.Value.Id);

    /// <summary>Releases whole lease rows whose process is gone (used by reconciliation).</summary>
    public async Task ReleaseRowsAsync(IReadOnlyList<Reservation> rows, CancellationToken cancellationToken)
    {
        await store.WriteLock.WaitAsync(cancellationToken);
        try
        {
            await store.ReleaseAsync([.. rows.Select(r => new LeaseRelease(r.RequestId, r.AccountId, r.KeyId, r.AmountMicros))]);
        }
        finally
        {
            store.WriteLock.Release();
        }
    }

    /// <summary>
    /// A key or account changed (deleted, disabled, a new limit, new credit): the leases of it stop lending
    /// their free room at once, and it goes back to the balance, so the next request is checked in the store.
    /// </summary>
    public void OnChanged(IReadOnlyList<ChangeLogEntry> changes)
    {
        foreach (var change in changes)
        {
            Func<Lease, bool>? affected = change.Kind switch
            {
                ChangeKinds.Key => change.EntityId is { } keyId ? l => l.KeyId == keyId : _ => true,
                ChangeKinds.Account => change.EntityId is { } accountId ? l => l.AccountId == accountId : _ => true,
                _ => null,
            };
            if (affected is null)
            {
                continue;
            }

            foreach (var lease in _leases.Values)
            {
                if (affected(lease))
                {
                    lease.Retire();
                }
            }
        }
    }

    private static long SaturatingProduct(long amount, int times) =>
        amount > long.MaxValue / times ? long.MaxValue : amount * times;

    /// <summary>Writes everything queued (each top-up atomic on its own). Call only while holding the write lock.</summary>
    private async Task ReserveQueuedAsync()
    {
        var batch = new List<PendingReservation>();
        while (_pending.TryDequeue(out var queued))
        {
            batch.Add(queued);
        }

        TopUpResult[] results;
        try
        {
            results = await store.TopUpAsync([.. batch.Select(p => new LeaseTopUp(p.LeaseId, p.Key.AccountId, p.Key.KeyId, p.AmountMicros, p.Now, p.ExpiresAt))]);
        }
        catch (Exception ex)
        {
            foreach (var failed in batch)
            {
                failed.Outcome.TrySetException(ex);
            }

            return;
        }

        for (var i = 0; i < batch.Count; i++)
        {
            if (results[i].Error is { } error)
            {
                batch[i].Outcome.TrySetException(error);
            }
            else
            {
                if (results[i].Outcome == ReserveOutcome.Reserved)
                {
                    batch[i].Applied?.Invoke();
                }

                batch[i].Outcome.TrySetResult(results[i].Outcome);
            }
        }
    }

    /// <summary>
    /// What to charge when settling: the cost, but never so much that the balance (after this request's
    /// reservation is released) falls below the overdraft bound.
    /// </summary>
    public static long ChargeWithinBound(long costMicros, long balanceMicros, long reservedMicros, long overdraftMicros)
    {
        var room = balanceMicros + reservedMicros + overdraftMicros;
        return Math.Max(0, Math.Min(costMicros, room));
    }

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "Returning the unused room of {Count} leases failed; retrying with the next return")]
    private static partial void LogReturnFailed(ILogger logger, int count, Exception exception);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Refilling lease {LeaseId} ahead of need failed; requests will top it up themselves")]
    private static partial void LogRefillFailed(ILogger logger, string leaseId, Exception exception);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Lease {LeaseId} holds less than the {AmountMicros} micro-USD to release; it was released already")]
    private static partial void LogLeaseShort(ILogger logger, string leaseId, long amountMicros);
}

/// <summary>A lease top-up waiting for the next group commit, and where its outcome goes.</summary>
internal sealed record PendingReservation(string LeaseId, KeyIdentity Key, long AmountMicros, DateTime Now, DateTime ExpiresAt)
{
    /// <summary>What to change in memory once the top-up is committed, still under the write lock.</summary>
    public Action? Applied { get; init; }

    public TaskCompletionSource<ReserveOutcome> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>An account's requests in flight in this process, and a signal that fires whenever room may have come back.</summary>
internal sealed class AccountRoom
{
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Requests of the account holding money now.</summary>
    public int InFlight;

    /// <summary>Completes the next time room may have come back; read before trying, then wait on it.</summary>
    public Task Changed => Volatile.Read(ref _changed).Task;

    public void Signal() => Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}
