using System.Globalization;
using System.Text;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>The numbers at the top of the usage page.</summary>
internal sealed record UsageSummary(
    long BalanceMicros, long ReservedMicros, long SpentTodayMicros, long SpentThisMonthMicros, long RequestsToday, long RequestsThisMonth);

/// <summary>What a daily chart groups by.</summary>
internal enum UsageGrouping
{
    Model,
    Key,
}

/// <summary>One day of one model's (or one key's) usage, from the daily rollup.</summary>
internal sealed record DailyUsage(
    DateOnly Day, string? Model, long? KeyId, long Requests, long InputTokens, long CachedInputTokens, long OutputTokens, long ReasoningTokens, long ChargedMicros);

/// <summary>Which requests a table or an export shows, by HTTP status.</summary>
internal enum StatusFilter
{
    Any,

    /// <summary>HTTP 2xx.</summary>
    Succeeded,

    /// <summary>Anything else: refused, failed upstream, abandoned.</summary>
    Failed,
}

/// <summary>
/// A filter over one account's usage records. The time range is always bounded (<c>From</c> inclusive,
/// <c>To</c> exclusive, UTC) so that a query reads only that slice of the time-ordered index.
/// </summary>
internal sealed record UsageFilter(long AccountId, DateTime From, DateTime To)
{
    public long? KeyId { get; init; }

    public string? Model { get; init; }

    public StatusFilter Status { get; init; }
}

/// <summary>A page of usage records, newest first, and the cursor for the next (older) page, if any.</summary>
internal sealed record UsagePage(IReadOnlyList<UsageRecord> Records, string? NextCursor);

/// <summary>
/// Read side of usage for the console's usage page, the balance endpoints and exports. Charts read the
/// pre-aggregated <c>usage_daily</c> rollup; tables page through <c>usage_records</c> by keyset
/// (<c>created_at, id</c> descending) inside a bounded time range, so every query touches a bounded
/// slice of an index however many records there are.
/// </summary>
internal sealed class UsageQueries(IDbContextFactory<TokenPoolDb> dbFactory, QuotaLedger ledger, TimeProvider time)
{
    /// <summary>The longest time range one table query or export may cover.</summary>
    public static readonly TimeSpan MaxRange = TimeSpan.FromDays(366);

    public const int MaxPageSize = 200;

    public async Task<UsageSummary> SummaryAsync(long accountId, CancellationToken cancellationToken)
    {
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var monthStart = new DateOnly(today.Year, today.Month, 1);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var (account, unused) = await ledger.ReadWithLeasesAsync(async () =>
            (await db.Accounts.AsNoTracking().Where(a => a.Id == accountId)
                .Select(a => new { a.BalanceMicros, a.ReservedMicros }).FirstOrDefaultAsync(cancellationToken),
             ledger.UnusedMicros(accountId)), cancellationToken);
        var days = await db.UsageDaily.AsNoTracking()
            .Where(d => d.AccountId == accountId && d.Day >= monthStart && d.Day <= today)
            .GroupBy(d => d.Day)
            .Select(g => new { Day = g.Key, Charged = g.Sum(d => d.ChargedMicros), Requests = g.Sum(d => d.Requests) })
            .ToListAsync(cancellationToken);
        var todays = days.Where(d => d.Day == today).ToList();

        // Lease room that no request holds is the account's to spend: shown as balance, not as held.
        return new UsageSummary(
            (account?.BalanceMicros ?? 0) + unused,
            (account?.ReservedMicros ?? 0) - unused,
            todays.Sum(d => d.Charged),
            days.Sum(d => d.Charged),
            todays.Sum(d => d.Requests),
            days.Sum(d => d.Requests));
    }

    /// <summary>Spend and tokens per day (inclusive range) by model or by key, oldest day first.</summary>
    public async Task<IReadOnlyList<DailyUsage>> DailyAsync(long accountId, DateOnly from, DateOnly to, UsageGrouping grouping, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var rows = db.UsageDaily.AsNoTracking().Where(d => d.AccountId == accountId && d.Day >= from && d.Day <= to);
        var grouped = grouping == UsageGrouping.Model
            ? rows.GroupBy(d => new { d.Day, Model = (string?)d.Model, KeyId = (long?)null })
            : rows.GroupBy(d => new { d.Day, Model = (string?)null, KeyId = (long?)d.KeyId });
        var sums = await grouped
            .Select(g => new
            {
                g.Key.Day, g.Key.Model, g.Key.KeyId,
                Requests = g.Sum(d => d.Requests), Input = g.Sum(d => d.InputTokens), Cached = g.Sum(d => d.CachedInputTokens),
                Output = g.Sum(d => d.OutputTokens), Reasoning = g.Sum(d => d.ReasoningTokens), Charged = g.Sum(d => d.ChargedMicros),
            })
            .ToListAsync(cancellationToken);
        return sums
            .OrderBy(s => s.Day).ThenBy(s => s.Model, StringComparer.Ordinal).ThenBy(s => s.KeyId)
            .Select(s => new DailyUsage(s.Day, s.Model, s.KeyId, s.Requests, s.Input, s.Cached, s.Output, s.Reasoning, s.Charged))
            .ToList();
    }

    /// <summary>One page of requests, newest first. Pass the previous page's <see cref="UsagePage.NextCursor"/> for the next.</summary>
    public async Task<UsagePage> RecentAsync(UsageFilter filter, string? cursor, int pageSize, CancellationToken cancellationToken)
    {
        pageSize = Math.Clamp(pageSize, 1, MaxPageSize);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var query = Filtered(db, filter);
        if (cursor is not null)
        {
            var (at, id) = ParseCursor(cursor);
            query = query.Where(r => r.CreatedAt < at || (r.CreatedAt == at && r.Id < id));
        }

        var rows = await query.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id).Take(pageSize + 1).ToListAsync(cancellationToken);
        if (rows.Count <= pageSize)
        {
            return new UsagePage(rows, null);
        }

        rows.RemoveAt(rows.Count - 1);
        return new UsagePage(rows, MakeCursor(rows[^1]));
    }

    /// <summary>
    /// Writes every record the filter selects as CSV, newest first, row by row as they are read (nothing is
    /// held in memory but the current row). Returns the number of rows written.
    /// </summary>
    public async Task<long> ExportCsvAsync(UsageFilter filter, TextWriter writer, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await writer.WriteLineAsync(CsvHeader.AsMemory(), cancellationToken);
        var line = new StringBuilder(256);
        long count = 0;
        await foreach (var r in Filtered(db, filter).OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id).AsAsyncEnumerable().WithCancellation(cancellationToken))
        {
            line.Clear();
            var c = CultureInfo.InvariantCulture;
            line.Append(r.CreatedAt.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", c)).Append(',')
                .Append(Csv(r.RequestId)).Append(',')
                .Append(r.KeyId.ToString(c)).Append(',')
                .Append(Csv(r.Model)).Append(',')
                .Append(Csv(r.Endpoint)).Append(',')
                .Append(r.IsStream ? "true" : "false").Append(',')
                .Append(r.Status.ToString(c)).Append(',')
                .Append(Csv(r.Outcome)).Append(',')
                .Append(r.InputTokens.ToString(c)).Append(',')
                .Append(r.CachedInputTokens.ToString(c)).Append(',')
                .Append(r.OutputTokens.ToString(c)).Append(',')
                .Append(r.ReasoningTokens.ToString(c)).Append(',')
                .Append(r.IsEstimated ? "true" : "false").Append(',')
                .Append(Money.Plain(r.CostMicros)).Append(',')
                .Append(Money.Plain(r.ChargedMicros)).Append(',')
                .Append(r.LatencyMs.ToString(c)).Append(',')
                .Append(r.FirstTokenMs?.ToString(c) ?? "");
            await writer.WriteLineAsync(line, cancellationToken);
            if (++count % 1000 == 0)
            {
                await writer.FlushAsync(cancellationToken);
            }
        }

        await writer.FlushAsync(cancellationToken);
        return count;
    }

    public const string CsvHeader =
        "created_at,request_id,key_id,model,endpoint,stream,status,outcome,input_tokens,cached_input_tokens,output_tokens,reasoning_tokens,estimated,cost_usd,charged_usd,latency_ms,first_token_ms";

    private static IQueryable<UsageRecord> Filtered(TokenPoolDb db, UsageFilter filter)
    {
        if (filter.To <= filter.From)
        {
            throw new ArgumentException("The end of the time range must be after its start.");
        }

        if (filter.To - filter.From > MaxRange)
        {
            throw new ArgumentException($"Choose a time range of at most {MaxRange.TotalDays:0} days.");
        }

        var (from, to) = (filter.From, filter.To);
        var query = db.UsageRecords.AsNoTracking().Where(r => r.AccountId == filter.AccountId && r.CreatedAt >= from && r.CreatedAt < to);
        if (filter.KeyId is { } keyId)
        {
            query = query.Where(r => r.KeyId == keyId);
        }

        if (filter.Model is { Length: > 0 } model)
        {
            query = query.Where(r => r.Model == model);
        }

        return filter.Status switch
        {
            StatusFilter.Succeeded => query.Where(r => r.Status >= 200 && r.Status < 300),
            StatusFilter.Failed => query.Where(r => r.Status < 200 || r.Status >= 300),
            _ => query,
        };
    }

    internal static string MakeCursor(UsageRecord last) =>
        string.Create(CultureInfo.InvariantCulture, $"{last.CreatedAt.Ticks}.{last.Id}");

    internal static (DateTime At, long Id) ParseCursor(string cursor)
    {
        var parts = cursor.Split('.');
        if (parts.Length != 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            || ticks < DateTime.MinValue.Ticks || ticks > DateTime.MaxValue.Ticks)
        {
            throw new ArgumentException("The page cursor is not valid; start again from the first page.");
        }

        return (new DateTime(ticks, DateTimeKind.Utc), id);
    }

    private static string Csv(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return "";
        }

        var text = value[0] is '=' or '+' or '-' or '@' ? "'" + value : value;
        return text.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }
}
