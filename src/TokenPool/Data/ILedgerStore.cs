using TokenPool.Billing;

namespace TokenPool.Data;

/// <summary>
/// The money statements, in the ledger's own terms, one implementation per engine (<see cref="Sqlite.SqliteLedgerStore"/>,
/// <see cref="Postgres.PostgresLedgerStore"/>). Nothing outside <c>Data/</c> writes balances, holds or charges in SQL.
/// <list type="bullet">
/// <item><b>Top up a lease</b>: the key (usable, under its spend limit), the account (enabled, balance covers it) and the
/// lease row change together or not at all, each top-up in one atomic step that holds across processes; a refusal is an
/// outcome, never an error, and one top-up failing never undoes another.</item>
/// <item><b>Release</b>: room of lease rows goes back to the balance of its account and key, in one transaction.</item>
/// <item><b>Settle a batch</b>: with the rows of the batch's accounts, keys and leases locked (or held by the single
/// writer), the ledger plans the batch from what the store shows, and the plan is written in the same transaction.</item>
/// </list>
/// Every call is made holding <see cref="WriteLock"/>, which keeps a money move between this process's memory (lease
/// room) and the store one step for anyone reading both (see <see cref="QuotaLedger.ReadWithLeasesAsync{T}"/>).
/// </summary>
internal interface ILedgerStore
{
    /// <summary>Held while money moves between the store and this process's leases.</summary>
    SemaphoreSlim WriteLock { get; }

    /// <summary>Carries out each top-up on its own; one result per top-up, in order.</summary>
    Task<TopUpResult[]> TopUpAsync(IReadOnlyList<LeaseTopUp> topUps);

    /// <summary>Releases room of lease rows, all in one transaction; false for a row that held less than asked (released already).</summary>
    Task<bool[]> ReleaseAsync(IReadOnlyList<LeaseRelease> releases);

    /// <summary>Reads what the batch touches (locking it), lets <paramref name="plan"/> decide, and writes the plan, in one transaction.</summary>
    Task SettleAsync(SettlementScope scope, Func<SettlementView, SettlementPlan> plan);
}

/// <summary>Room to add to a lease row (zero only checks the key and account and moves the row's expiry).</summary>
internal readonly record struct LeaseTopUp(string LeaseId, long AccountId, long KeyId, long AmountMicros, DateTime Now, DateTime ExpiresAt);

/// <summary>What became of one top-up: its outcome, or the error that stopped it (nothing of it was written).</summary>
internal readonly record struct TopUpResult(ReserveOutcome Outcome, Exception? Error);

/// <summary>Room to take off a lease row and give back to the balance of its account and key.</summary>
internal readonly record struct LeaseRelease(string LeaseId, long AccountId, long KeyId, long AmountMicros);

/// <summary>The rows a settlement batch reads and changes.</summary>
internal sealed record SettlementScope(
    IReadOnlyCollection<long> AccountIds, IReadOnlyCollection<long> KeyIds, IReadOnlyCollection<string> LeaseIds, IReadOnlyCollection<string> RequestIds);

/// <summary>The store as a settlement batch finds it, its rows locked until the batch commits.</summary>
internal sealed class SettlementView
{
    /// <summary>Balance of each account of the scope.</summary>
    public Dictionary<long, long> Balances { get; } = [];

    /// <summary>Room left under each key's spend limit (spend limit − charged − reserved); no entry: no limit.</summary>
    public Dictionary<long, long> KeyRooms { get; } = [];

    /// <summary>What each lease row of the scope holds; no entry: no such row.</summary>
    public Dictionary<string, long> Leases { get; } = new(StringComparer.Ordinal);

    /// <summary>The scope's requests that have a usage record already.</summary>
    public HashSet<string> Settled { get; } = new(StringComparer.Ordinal);
}

/// <summary>What a settlement batch writes: usage records, and one change per account, key, lease row and daily rollup row.</summary>
internal sealed class SettlementPlan
{
    /// <summary>Usage records to insert, their charges decided; none of them has a record yet.</summary>
    public List<UsageRecord> Records { get; } = [];

    /// <summary>Per account: balance += released − charged; reserved −= released; charged += charged.</summary>
    public Dictionary<long, MoneyMove> Accounts { get; } = [];

    /// <summary>Per key: reserved −= released; charged += charged; last used at the latest time given.</summary>
    public Dictionary<long, KeyMove> Keys { get; } = [];

    /// <summary>Per lease row: how much to take off it (the row goes when it holds nothing).</summary>
    public Dictionary<string, long> LeaseTakes { get; } = new(StringComparer.Ordinal);

    public Dictionary<DailyKey, DailySums> Daily { get; } = [];
}

/// <summary>Money released from holds and charged, on an account.</summary>
internal readonly record struct MoneyMove(long Released, long Charged);

/// <summary>Money released and charged on a key, and when it was last used.</summary>
internal readonly record struct KeyMove(long Released, long Charged, DateTime? LastUsedAt);

internal readonly record struct DailyKey(DateOnly Day, long AccountId, long KeyId, string Model);

internal readonly record struct DailySums(long Requests, long Input, long Cached, long Output, long Reasoning, long Charged);
