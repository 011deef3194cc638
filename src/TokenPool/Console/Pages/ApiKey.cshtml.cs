using Microsoft.AspNetCore.Mvc;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Docs;
using TokenPool.Hosting;
using TokenPool.Keys;

namespace TokenPool.WebConsole.Pages;

/// <summary>One key: reveal, copy, test, configure, rotate, delete. Every handler acts only on the signed-in owner's key.</summary>
internal sealed class ApiKeyModel(
    ApiKeyService keys,
    KeySecrets secrets,
    ConsoleSession session,
    KeyTester tester,
    PriceCatalog catalog,
    PublicUrls urls,
    TimeProvider time) : ConsolePageModel
{
    public const string PreferredModel = "gpt-5.5";
    public const string PreferredSmallModel = "gpt-5.4-nano";

    public ApiKey Key { get; private set; } = null!;

    public string? NewKey { get; private set; }

    public string? RevealedKey { get; private set; }

    /// <summary>The action waiting for the password ("reveal" or "configure"), when one is.</summary>
    public string? PasswordFor { get; private set; }

    public string? PasswordError { get; private set; }

    public TestOutcome? Test { get; private set; }

    /// <summary>The model last tested, kept selected in the form.</summary>
    public string? SelectedModel { get; private set; }

    public IReadOnlyList<string> AllowedModelList => KeyModels ?? [];

    public ClientSetup? Setup { get; private set; }

    public string? CodexLink { get; private set; }

    public string? OpenCodeLink { get; private set; }

    public List<AuditEvent> Events { get; private set; } = [];

    public DateTime Now => time.GetUtcNow().UtcDateTime;

    public IReadOnlyList<string> Models => [.. catalog.All.Keys.Order(StringComparer.Ordinal)];

    public string DefaultModel => KeyModels is { Count: > 0 } allowed
        ? (allowed.Contains(PreferredModel) ? PreferredModel : allowed[0])
        : PreferredModel;

    private List<string>? KeyModels => Key.AllowedModels?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();

    public async Task<IActionResult> OnGetAsync(long id, CancellationToken cancellationToken) =>
        await LoadAsync(id, cancellationToken) ? Page() : NotFound();

    public async Task<IActionResult> OnPostRevealAsync(long id, string? password, string? code, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(id, cancellationToken))
        {
            return NotFound();
        }

        if (!await PasswordOkAsync("reveal", password, code, cancellationToken))
        {
            return Page();
        }

        RevealedKey = await keys.RevealAsync(AccountId, id, ClientAddress, cancellationToken);
        return await ReloadAsync(id, cancellationToken);
    }

    public async Task<IActionResult> OnPostConfigureAsync(long id, string? password, string? code, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(id, cancellationToken))
        {
            return NotFound();
        }

        if (!await PasswordOkAsync("configure", password, code, cancellationToken))
        {
            return Page();
        }

        var full = await keys.RevealAsync(AccountId, id, ClientAddress, cancellationToken);
        if (full is null)
        {
            return NotFound();
        }

        Setup = SetupFor(full);
        var homepage = urls.WebUrl(HttpContext);
        CodexLink = Setup.CcSwitchLink("codex", homepage);
        OpenCodeLink = Setup.CcSwitchLink("opencode", homepage);
        return await ReloadAsync(id, cancellationToken);
    }

    public async Task<IActionResult> OnPostTestAsync(long id, string? model, CancellationToken cancellationToken)
    {
        if (!await LoadAsync(id, cancellationToken))
        {
            return NotFound();
        }

        var chosen = string.IsNullOrWhiteSpace(model) ? DefaultModel : model.Trim();
        SelectedModel = chosen;
        Test = await tester.TestAsync(Key.Id, secrets.UnprotectApiKey(Key.ProtectedKey), chosen, cancellationToken);
        return await ReloadAsync(id, cancellationToken);
    }

    public async Task<IActionResult> OnPostSettingsAsync(
        long id,
        string? name,
        string? expires,
        decimal? spendLimitUsd,
        string[]? models,
        int? requestsPerMinute,
        int? tokensPerMinute,
        int? maxConcurrentRequests,
        CancellationToken cancellationToken)
    {
        if (!await LoadAsync(id, cancellationToken))
        {
            return NotFound();
        }

        try
        {
            var expiresAt = expires switch
            {
                null or "" or "keep" => Key.ExpiresAt,
                "never" => null,
                _ when int.TryParse(expires, System.Globalization.CultureInfo.InvariantCulture, out var days) && days is > 0 and <= 3650 => Now.AddDays(days),
                _ => throw new KeyActionException("Choose an expiry between 1 day and 10 years, or never."),
            };
            var settings = ApiKeysModel.Settings(name, expiresAt, spendLimitUsd, models, catalog);
            var limits = new RequestLimits(requestsPerMinute, tokensPerMinute, maxConcurrentRequests);
            RequestLimits.Validate(limits);
            var saved = await keys.UpdateAsync(AccountId, id, settings, ClientAddress, cancellationToken);
            if (saved && limits != new RequestLimits(Key.RequestsPerMinute, Key.TokensPerMinute, Key.MaxConcurrentRequests))
            {
                saved = await keys.SetLimitsAsync(AccountId, id, limits, ClientAddress, cancellationToken);
            }

            Notice = saved ? "Saved. The next request with this key uses the new settings." : null;
        }
        catch (Exception error) when (error is KeyActionException or ArgumentException)
        {
            Error = error.Message;
        }

        return await ReloadAsync(id, cancellationToken);
    }

    public async Task<IActionResult> OnPostRotateAsync(long id, CancellationToken cancellationToken)
    {
        var rotated = await keys.RotateAsync(AccountId, id, ClientAddress, cancellationToken);
        if (rotated is null)
        {
            return NotFound();
        }

        NewKey = rotated.Key;
        await LoadAsync(rotated.Row.Id, cancellationToken);
        return Page();
    }

    public async Task<IActionResult> OnPostDeleteAsync(long id, CancellationToken cancellationToken) =>
        await keys.DeleteAsync(AccountId, id, ClientAddress, cancellationToken)
            ? LocalRedirect("/console/api-keys?notice=deleted")
            : NotFound();

    /// <summary>The set-up snippets for this key: its preferred model, and a small model it may use for OpenCode's titles.</summary>
    public ClientSetup SetupFor(string fullKey)
    {
        var allowed = KeyModels;
        var small = allowed is not { Count: > 0 } || allowed.Contains(PreferredSmallModel)
            ? PreferredSmallModel
            : allowed.OrderBy(m => catalog.Find(m)?.OutputMicrosPerMillion ?? long.MaxValue).First();
        return new ClientSetup(urls.ApiBaseUrl(HttpContext), fullKey, DefaultModel, small);
    }

    private async Task<bool> PasswordOkAsync(string action, string? password, string? code, CancellationToken cancellationToken)
    {
        if (password is null && session.PasswordIsRecent(HttpContext))
        {
            return true;
        }

        PasswordFor = action;
        if (password is null)
        {
            return false;
        }

        PasswordError = await session.ConfirmAsync(HttpContext, password, code, "That password is not right. Try again.", cancellationToken);
        if (PasswordError is null)
        {
            PasswordFor = null;
            return true;
        }

        return false;
    }

    public static string DescribeLimits(ApiKey key) =>
        new RequestLimits(key.RequestsPerMinute, key.TokensPerMinute, key.MaxConcurrentRequests) is { IsEmpty: false } limits
            ? string.Join(", ", new[]
            {
                limits.RequestsPerMinute is { } rpm ? $"{rpm.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} {(rpm == 1 ? "request" : "requests")} per minute" : null,
                limits.TokensPerMinute is { } tpm ? $"{tpm.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} {(tpm == 1 ? "token" : "tokens")} per minute" : null,
                limits.MaxConcurrentRequests is { } concurrent ? $"{concurrent.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} at once" : null,
            }.OfType<string>())
            : "none";

    private async Task<bool> LoadAsync(long id, CancellationToken cancellationToken)
    {
        var key = await keys.FindAsync(AccountId, id, cancellationToken);
        if (key is null)
        {
            return false;
        }

        Key = key;
        Events = [.. (await keys.AuditLogAsync(AccountId, 500, cancellationToken)).Where(e => e.KeyId == id).Take(20)];
        return true;
    }

    private async Task<IActionResult> ReloadAsync(long id, CancellationToken cancellationToken)
    {
        await LoadAsync(id, cancellationToken);
        return Page();
    }
}
