using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;

namespace TokenPool.WebConsole.Pages;

/// <summary>
/// The usage page: balance and spend, daily charts by model or key, the filtered request table with keyset
/// paging, and a streamed CSV export of the same filter. Only ever one account's data: the signed-in one, or
/// (for an admin) the account named in <c>account</c>.
/// </summary>
internal sealed partial class UsageModel(
    UsageQueries queries, IDbContextFactory<TokenPoolDb> dbFactory, PriceCatalog catalog, TimeProvider time, ILogger<UsageModel> logger) : ConsolePageModel
{
    public const int DefaultPageSize = 50;

    [BindProperty(SupportsGet = true)]
    public string? From { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? To { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Key { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Model { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Status { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Cursor { get; set; }

    /// <summary><c>model</c> or <c>key</c>: what the charts stack by.</summary>
    [BindProperty(SupportsGet = true)]
    public string? By { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? Size { get; set; }

    /// <summary>Admins only: whose usage to show.</summary>
    [BindProperty(SupportsGet = true)]
    public string? Account { get; set; }

    /// <summary>The account whose usage is shown.</summary>
    public long ViewedAccountId { get; private set; }

    /// <summary>Set when an admin looks at another account's usage.</summary>
    public string? ViewedEmail { get; private set; }

    /// <summary>Why the page shows a different account than the query string asked for.</summary>
    public string? Warning { get; private set; }

    public UsageSummary? Summary { get; private set; }

    public UsageFilterChoice? Choice { get; private set; }

    /// <summary>Every key of the account, deleted ones included (their old requests still name them).</summary>
    public Dictionary<long, string> KeyNames { get; private set; } = [];

    public List<string> Models { get; private set; } = [];

    public DailyChart? SpendChart { get; private set; }

    public DailyChart? TokenChart { get; private set; }

    public IReadOnlyList<UsageRecord> Records { get; private set; } = [];

    public string? NextCursor { get; private set; }

    public bool ByKey => string.Equals(By, "key", StringComparison.OrdinalIgnoreCase);

    public int PageSize => int.TryParse(Size, NumberStyles.None, CultureInfo.InvariantCulture, out var size) ? Math.Clamp(size, 1, UsageQueries.MaxPageSize) : DefaultPageSize;

    public DateOnly Today => DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        if (await PrepareAsync(cancellationToken) is not { } filter)
        {
            return;
        }

        var choice = Choice!;
        var daily = await queries.DailyAsync(ViewedAccountId, choice.From, choice.To, ByKey ? UsageGrouping.Key : UsageGrouping.Model, cancellationToken);
        Func<DailyUsage, string> label = ByKey ? d => KeyLabel(d.KeyId ?? 0) : d => d.Model ?? "";
        SpendChart = UsageChart.Build(daily, choice.From, choice.To, label, d => d.ChargedMicros);
        TokenChart = UsageChart.Build(daily, choice.From, choice.To, label, d => d.InputTokens + d.OutputTokens);
        Models = [.. Models.Union(daily.Where(d => d.Model is not null).Select(d => d.Model!)).Order(StringComparer.Ordinal)];

        if (filter.KeyId is { } keyId && !KeyNames.ContainsKey(keyId))
        {
            Error = $"There is no key with id {keyId} in this account, so no requests are shown. Choose a key from the list.";
            return;
        }

        try
        {
            var page = await queries.RecentAsync(filter, string.IsNullOrEmpty(Cursor) ? null : Cursor, PageSize, cancellationToken);
            Records = page.Records;
            NextCursor = page.NextCursor;
        }
        catch (ArgumentException error)
        {
            Error = error.Message;
        }
    }

    /// <summary>Streams every request the filter selects as CSV, newest first.</summary>
    public async Task<IActionResult> OnGetCsvAsync(CancellationToken cancellationToken)
    {
        if (await PrepareAsync(cancellationToken) is not { } filter)
        {
            Response.StatusCode = StatusCodes.Status400BadRequest;
            return Page();
        }

        if (filter.KeyId is { } keyId && !KeyNames.ContainsKey(keyId))
        {
            filter = filter with { KeyId = -1 };
        }

        var name = $"tokenpool-usage-{UsageFilterForm.Format(Choice!.From)}-to-{UsageFilterForm.Format(Choice.To)}.csv";
        Response.ContentType = "text/csv; charset=utf-8";
        Response.Headers.ContentDisposition = $"attachment; filename=\"{name}\"";
        var started = time.GetTimestamp();
        await using var writer = new StreamWriter(Response.Body, new UTF8Encoding(false), 16 * 1024, leaveOpen: true);
        var rows = await queries.ExportCsvAsync(filter, writer, cancellationToken);
        LogExported(logger, ViewedAccountId, AccountId, rows, (long)time.GetElapsedTime(started).TotalMilliseconds);
        return new EmptyResult();
    }

    /// <summary>A link to this page with the current filter and one or more fields changed.</summary>
    public string Link(string? cursor = null, string? by = null, bool csv = false)
    {
        var fields = new Dictionary<string, string?>
        {
            ["account"] = ViewedEmail is null ? null : Account,
            ["from"] = From,
            ["to"] = To,
            ["key"] = Key,
            ["model"] = Model,
            ["status"] = Status,
            ["by"] = by ?? By,
            ["size"] = Size,
            ["cursor"] = cursor,
            ["handler"] = csv ? "csv" : null,
        };
        return QueryHelpers.AddQueryString("/console/usage", fields.Where(f => !string.IsNullOrEmpty(f.Value)));
    }

    public string KeyLabel(long keyId) => KeyNames.TryGetValue(keyId, out var name) ? name : "#" + keyId.ToString(CultureInfo.InvariantCulture);

    public static string Number(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Milliseconds(int? value) => value is { } ms ? ms.ToString("N0", CultureInfo.InvariantCulture) + " ms" : "—";

    public static string Time(DateTime value) => value.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    /// <summary>Works out whose usage to show, loads the summary and keys, and checks the filter; null when there is nothing to query.</summary>
    private async Task<UsageFilter?> PrepareAsync(CancellationToken cancellationToken)
    {
        ViewedAccountId = AccountId;
        if (!string.IsNullOrWhiteSpace(Account))
        {
            var isAdmin = CurrentAccount.Role == AccountRole.Admin;
            var parsed = long.TryParse(Account.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var requested);
            if (!isAdmin)
            {
                if (!parsed || requested != AccountId)
                {
                    Warning = "You can only see your own usage. Showing your account.";
                }
            }
            else if (parsed && requested != AccountId)
            {
                await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
                var email = await db.Accounts.AsNoTracking().Where(a => a.Id == requested).Select(a => a.Email).FirstOrDefaultAsync(cancellationToken);
                if (email is null)
                {
                    Warning = "There is no account with that id. Showing your own usage.";
                }
                else
                {
                    ViewedAccountId = requested;
                    ViewedEmail = email;
                    LogAdminView(logger, AccountId, requested);
                }
            }
            else if (!parsed)
            {
                Warning = "That account id is not valid. Showing your own usage.";
            }
        }

        Summary = await queries.SummaryAsync(ViewedAccountId, cancellationToken);
        await using (var db = await dbFactory.CreateDbContextAsync(cancellationToken))
        {
            var keys = await db.ApiKeys.AsNoTracking().Where(k => k.AccountId == ViewedAccountId)
                .Select(k => new { k.Id, k.Name, k.DeletedAt }).ToListAsync(cancellationToken);
            KeyNames = keys.ToDictionary(k => k.Id, k => k.DeletedAt is null ? k.Name : k.Name + " (deleted)");
        }

        Models = [.. catalog.All.Keys.Order(StringComparer.Ordinal)];
        var result = UsageFilterForm.Parse(From, To, Key, Model, Status, Today);
        if (result.Choice is null)
        {
            Error = result.Error;
            return null;
        }

        Choice = result.Choice;
        return result.Choice.For(ViewedAccountId);
    }

    [LoggerMessage(EventId = 7020, Level = LogLevel.Information, Message = "Usage CSV of account {AccountId} exported by account {ActorAccountId}: {Rows} rows in {ElapsedMs} ms")]
    private static partial void LogExported(ILogger logger, long accountId, long actorAccountId, long rows, long elapsedMs);

    [LoggerMessage(EventId = 7021, Level = LogLevel.Information, Message = "Admin account {AdminAccountId} viewed the usage of account {AccountId}")]
    private static partial void LogAdminView(ILogger logger, long adminAccountId, long accountId);
}
