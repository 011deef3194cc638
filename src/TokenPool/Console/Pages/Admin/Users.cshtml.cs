using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;

namespace TokenPool.WebConsole.Pages.Admin;

/// <summary>A user as the admin list shows it. Never a key: only how many the user has.</summary>
internal sealed record UserRow(Account Account, int ActiveKeys);

internal sealed record LedgerRow(DateTime When, string Account, long AmountMicros, string? Reason, string? Actor);

/// <summary>Admin: find users, change their credit (with a reason, in the ledger), disable them, make them admins.</summary>
internal sealed class UsersModel(AccountService accounts, IDbContextFactory<TokenPoolDb> dbFactory) : ConsolePageModel
{
    [BindProperty(SupportsGet = true)]
    public string? Q { get; set; }

    public List<UserRow> Users { get; private set; } = [];

    public List<LedgerRow> Ledger { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken cancellationToken) => await LoadAsync(cancellationToken);

    public async Task<IActionResult> OnPostCreditAsync(long accountId, decimal amountUsd, string? reason, CancellationToken cancellationToken) =>
        await ActAsync(async () =>
        {
            var balance = await accounts.ChangeCreditAsync(accountId, Money.FromDollars(amountUsd), reason ?? "", AccountId, cancellationToken);
            return $"Credit changed by {Money.Format(Money.FromDollars(amountUsd))}. The balance is now {Money.Format(balance)}.";
        }, cancellationToken);

    public async Task<IActionResult> OnPostDisableAsync(long accountId, bool disabled, CancellationToken cancellationToken) =>
        await ActAsync(async () =>
        {
            if (accountId == AccountId)
            {
                throw new AccountActionException("You cannot disable your own account.");
            }

            await accounts.SetDisabledAsync(accountId, disabled, AccountId, cancellationToken);
            return disabled ? "The account is disabled: its keys and sessions stopped working." : "The account is enabled again.";
        }, cancellationToken);

    public async Task<IActionResult> OnPostRoleAsync(long accountId, bool admin, CancellationToken cancellationToken) =>
        await ActAsync(async () =>
        {
            if (accountId == AccountId && !admin)
            {
                throw new AccountActionException("You cannot remove your own admin role; ask another admin.");
            }

            await accounts.SetRoleAsync(accountId, admin ? AccountRole.Admin : AccountRole.User, AccountId, cancellationToken);
            return admin ? "The account is now an admin." : "The account is no longer an admin.";
        }, cancellationToken);

    private async Task<IActionResult> ActAsync(Func<Task<string>> action, CancellationToken cancellationToken)
    {
        try
        {
            Notice = await action();
        }
        catch (AccountActionException error)
        {
            Error = error.Message;
        }

        await LoadAsync(cancellationToken);
        return Page();
    }

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var query = db.Accounts.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(Q))
        {
            var needle = AccountService.Normalize(Q);
            query = query.Where(a => a.NormalizedEmail.Contains(needle));
        }

        var found = await query.OrderByDescending(a => a.Id).Take(200).ToListAsync(cancellationToken);
        var ids = found.Select(a => a.Id).ToList();
        var keyCounts = await db.ApiKeys.Where(k => ids.Contains(k.AccountId) && k.DeletedAt == null)
            .GroupBy(k => k.AccountId).Select(g => new { g.Key, Count = g.Count() })
            .ToDictionaryAsync(g => g.Key, g => g.Count, cancellationToken);
        Users = [.. found.Select(a => new UserRow(a, keyCounts.GetValueOrDefault(a.Id)))];

        var entries = await db.Ledger.AsNoTracking().OrderByDescending(e => e.Id).Take(20).ToListAsync(cancellationToken);
        var people = entries.Select(e => e.AccountId).Concat(entries.Where(e => e.ActorAccountId != null).Select(e => e.ActorAccountId!.Value)).Distinct().ToList();
        var emails = await db.Accounts.Where(a => people.Contains(a.Id)).ToDictionaryAsync(a => a.Id, a => a.Email, cancellationToken);
        Ledger = [.. entries.Select(e => new LedgerRow(
            e.CreatedAt,
            emails.GetValueOrDefault(e.AccountId, "#" + e.AccountId),
            e.AmountMicros,
            e.Reason,
            e.ActorAccountId is { } actor ? emails.GetValueOrDefault(actor, "#" + actor) : null))];
    }
}
