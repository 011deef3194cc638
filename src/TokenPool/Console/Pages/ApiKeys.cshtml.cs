using System.Globalization;
using Microsoft.AspNetCore.Mvc;
using TokenPool.Billing;
using TokenPool.Keys;

namespace TokenPool.WebConsole.Pages;

internal sealed class ApiKeysModel(ApiKeyService keys, PriceCatalog catalog, Accounts.AccountService accounts, TimeProvider time) : ConsolePageModel
{
    public List<ApiKey> Keys { get; private set; } = [];

    public IReadOnlyList<string> Models => [.. catalog.All.Keys.Order(StringComparer.Ordinal)];

    public CreatedKey? Created { get; private set; }

    public bool Welcome { get; private set; }

    public DateTime Now => time.GetUtcNow().UtcDateTime;

    public static string Date(DateTime value) => value.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " UTC";

    public static string StatusBadge(ApiKey key, DateTime now) =>
        key.Status != ApiKeyStatus.Active ? "<span class=\"badge bad\">disabled</span>"
        : key.ExpiresAt is { } expires && expires <= now ? "<span class=\"badge bad\">expired</span>"
        : key.SpendLimitMicros is { } limit && key.ChargedMicros >= limit ? "<span class=\"badge bad\">spend limit reached</span>"
        : "<span class=\"badge ok\">active</span>";

    public async Task OnGetAsync(string? welcome, string? notice, CancellationToken cancellationToken)
    {
        Welcome = welcome is not null;
        Notice = notice switch
        {
            "deleted" => "The key is deleted. Requests with it are refused from now on.",
            _ => null,
        };
        Keys = await keys.ListAsync(AccountId, cancellationToken);
    }

    public async Task<IActionResult> OnPostCreateAsync(string? name, int? expiresInDays, decimal? spendLimitUsd, string[]? models, CancellationToken cancellationToken)
    {
        try
        {
            if (accounts.WhyNoNewKeys(CurrentAccount) is { } notYet)
            {
                throw new KeyActionException(notYet);
            }

            if (expiresInDays is <= 0 or > 3650)
            {
                throw new KeyActionException("Choose an expiry between 1 day and 10 years, or never.");
            }

            var expiresAt = expiresInDays is { } days ? time.GetUtcNow().UtcDateTime.AddDays(days) : (DateTime?)null;
            Created = await keys.CreateAsync(AccountId, Settings(name, expiresAt, spendLimitUsd, models, catalog), ClientAddress, cancellationToken);
        }
        catch (KeyActionException error)
        {
            Error = error.Message;
        }

        Keys = await keys.ListAsync(AccountId, cancellationToken);
        return Page();
    }

    /// <summary>Checks what the create and settings forms posted and turns it into key settings.</summary>
    public static NewKeySettings Settings(string? name, DateTime? expiresAt, decimal? spendLimitUsd, string[]? models, PriceCatalog catalog)
    {
        if (spendLimitUsd is <= 0)
        {
            throw new KeyActionException("A spend limit must be more than zero, or left empty for no limit.");
        }

        var chosen = (models ?? []).Where(m => !string.IsNullOrWhiteSpace(m)).ToList();
        if (chosen.FirstOrDefault(m => !catalog.All.ContainsKey(m)) is { } unknown)
        {
            throw new KeyActionException($"There is no model named \"{unknown}\".");
        }

        return new NewKeySettings(name ?? "", expiresAt, chosen.Count > 0 ? chosen : null, spendLimitUsd is { } usd ? Money.FromDollars(usd) : null);
    }
}
