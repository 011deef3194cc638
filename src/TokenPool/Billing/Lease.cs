namespace TokenPool.Billing;

/// <summary>
/// Balance that this gateway instance has reserved in the store for one account and key (one row of
/// <c>reservations</c>, named by <see cref="Id"/>), and how much of it no request holds yet. The row's amount
/// is always what requests in flight hold from it plus <see cref="Unused"/> (free, claimed by a top-up under way,
/// or returning), so the store never shows less reserved than is in use. Requests take their reserve from
/// the lease's free room in memory; only a top-up, a return or a settlement touches the row.
/// </summary>
internal sealed class Lease(string id, long accountId, long keyId)
{
    private readonly Lock _lock = new();
    private long _free;
    private long _claimed;
    private long _returning;
    private DateTime _expiresAt = DateTime.MinValue;
    private long _lastHeldAt;
    private long _generation;
    private int _refillScale = 1;
    private long _lastRefillAt = long.MinValue;
    private DateTime _lastRetiredAt = DateTime.MinValue;

    public string Id { get; } = id;

    public long AccountId { get; } = accountId;

    public long KeyId { get; } = keyId;

    /// <summary>Held while the lease is topped up, so that one request at a time goes to the store for it.</summary>
    public SemaphoreSlim TopUpGate { get; } = new(1, 1);

    /// <summary>When the row expires: no request may hold from the lease past it.</summary>
    public DateTime ExpiresAt
    {
        get
        {
            lock (_lock)
            {
                return _expiresAt;
            }
        }
    }

    /// <summary>
    /// Whether a refill ahead of need was refused by the store (no balance or limit room for a whole lease); the
    /// next top-up a request makes itself clears it.
    /// </summary>
    public bool RefillRefused { get; set; }

    /// <summary>
    /// How many times <see cref="BillingOptions.LeaseRequests"/> requests the next refill holds room for. Read on every
    /// hold without the lock: a value one refill old only moves the refill point a little.
    /// </summary>
    public int RefillScale => Volatile.Read(ref _refillScale);

    /// <summary>
    /// Sizes refills by how busy the lease is: a refill within a second of the last one doubles the next (up to
    /// <paramref name="maxScale"/> times the base size), so a busy key goes to the store about once a second
    /// however fast it sends; a refill after a quiet spell of ten seconds or more starts again from the base size.
    /// Returns the scale of this refill.
    /// </summary>
    public int NoteRefill(long nowTicks, int maxScale)
    {
        lock (_lock)
        {
            var since = _lastRefillAt == long.MinValue ? long.MaxValue : nowTicks - _lastRefillAt;
            var scale = since < 1_000 ? Math.Min(_refillScale * 2, maxScale) : since >= 10_000 ? 1 : _refillScale;
            Volatile.Write(ref _refillScale, scale);
            _lastRefillAt = nowTicks;
            return scale;
        }
    }

    /// <summary>Changes each time the lease is retired; room topped up in an older generation is not lent.</summary>
    public long Generation
    {
        get
        {
            lock (_lock)
            {
                return _generation;
            }
        }
    }

    /// <summary>
    /// Holds <paramref name="amount"/> for a request that may run until <paramref name="until"/>, if the lease covers
    /// both; <paramref name="freeAfter"/> is the room left.
    /// </summary>
    public bool TryHold(long amount, DateTime until, long nowTicks, out long freeAfter)
    {
        lock (_lock)
        {
            freeAfter = _free;
            if (_free < amount || _expiresAt < until)
            {
                return false;
            }

            _free -= amount;
            freeAfter = _free;
            _lastHeldAt = nowTicks;
            return true;
        }
    }

    /// <summary>Takes all the free room, for a top-up that will hold the request from it and the new room together.</summary>
    public long Claim()
    {
        lock (_lock)
        {
            var claimed = _free;
            _free = 0;
            _claimed += claimed;
            return claimed;
        }
    }

    /// <summary>
    /// After a top-up of <paramref name="added"/> begun in <paramref name="generation"/>: the claimed room and the new
    /// room, less the request's hold, become free; or go back to the balance, when the key or account changed meanwhile.
    /// </summary>
    public void CompleteTopUp(long generation, long claimed, long added, long held, DateTime expiresAt, long nowTicks)
    {
        lock (_lock)
        {
            _claimed -= claimed;
            if (generation == _generation)
            {
                _free += claimed + added - held;
            }
            else
            {
                _returning += claimed + added - held;
            }

            _expiresAt = expiresAt > _expiresAt ? expiresAt : _expiresAt;
            _lastHeldAt = nowTicks;
        }
    }

    /// <summary>Puts back room claimed in <paramref name="generation"/> for a top-up that did not happen.</summary>
    public void Unclaim(long generation, long claimed)
    {
        lock (_lock)
        {
            _claimed -= claimed;
            if (generation == _generation)
            {
                _free += claimed;
            }
            else
            {
                _returning += claimed;
            }
        }
    }

    /// <summary>Moves the free room to the returning room, so that no request can hold it any more.</summary>
    public void Retire()
    {
        lock (_lock)
        {
            _returning += _free;
            _free = 0;
            _generation++;
            _lastRetiredAt = DateTime.UtcNow;
        }
    }

    /// <summary>
    /// A request that began at <paramref name="startedAt"/> finished holding <paramref name="amount"/> more than it cost:
    /// the room is free at once for the next request, or on its way back to the balance when the key or account changed
    /// since the request began (it may have been held under a limit that no longer holds).
    /// </summary>
    public void GiveBack(long amount, DateTime startedAt)
    {
        lock (_lock)
        {
            if (_lastRetiredAt >= startedAt)
            {
                _returning += amount;
            }
            else
            {
                _free += amount;
            }
        }
    }

    /// <summary>
    /// Takes what is to go back to the balance now: whatever is returning, and the free room too when
    /// <paramref name="includeFree"/> or when no request has held from the lease for <paramref name="idleTicks"/>.
    /// </summary>
    public long TakeForReturn(bool includeFree, long nowTicks, long idleTicks)
    {
        lock (_lock)
        {
            var amount = _returning;
            _returning = 0;
            if (includeFree || nowTicks - _lastHeldAt >= idleTicks)
            {
                amount += _free;
                _free = 0;
            }

            return amount;
        }
    }

    /// <summary>Puts back an amount whose return failed, as returning, to be tried again.</summary>
    public void ReturnFailed(long amount)
    {
        lock (_lock)
        {
            _returning += amount;
        }
    }

    /// <summary>The lease's room that is not held by a request: free, claimed by a top-up under way, or on its way back.</summary>
    public long Unused
    {
        get
        {
            lock (_lock)
            {
                return _free + _claimed + _returning;
            }
        }
    }
}
