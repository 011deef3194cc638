using System.Collections.Frozen;
using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Data;

namespace TokenPool.Billing;

/// <summary>The model catalogue in memory: read on every request, reloaded when the change log reports a price change.</summary>
internal sealed class PriceCatalog(IDbContextFactory<TokenPoolDb> dbFactory, ChangeFeed changes) : IChangeListener
{
    private volatile FrozenDictionary<string, ModelPrice> _prices = FrozenDictionary<string, ModelPrice>.Empty;

    /// <summary>
    /// Catalogue a new deployment starts with: the models the docs name and the ones Codex, OpenCode and
    /// CC Switch ask for by default. Prices are per million tokens, in US dollars.
    /// </summary>
    public static readonly IReadOnlyList<(string Model, string Description, decimal Input, decimal CachedInput, decimal Output, int ReserveOutput, int ContextWindow)> Defaults =
    [
        ("gpt-5.5", "Flagship coding model; the docs' default for Codex", 1.25m, 0.125m, 10.00m, 16_384, 400_000),
        ("gpt-5.4", "Previous flagship", 1.25m, 0.125m, 10.00m, 16_384, 400_000),
        ("gpt-5.4-mini", "Faster, cheaper", 0.25m, 0.025m, 2.00m, 16_384, 400_000),
        ("gpt-5.4-nano", "Smallest; OpenCode's default title model", 0.05m, 0.005m, 0.40m, 4_096, 400_000),
        ("gpt-5.3-codex", "Codex-tuned", 1.25m, 0.125m, 10.00m, 16_384, 400_000),
        ("gpt-5.1-codex", "Codex-tuned, older", 1.25m, 0.125m, 10.00m, 16_384, 400_000),
        ("gpt-5-codex", "CC Switch's default Codex model", 1.25m, 0.125m, 10.00m, 16_384, 400_000),
    ];

    public FrozenDictionary<string, ModelPrice> All => _prices;

    public ModelPrice? Find(string model) => _prices.GetValueOrDefault(model);

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var rows = await db.ModelPrices.AsNoTracking().ToListAsync(cancellationToken);
        _prices = rows.ToFrozenDictionary(p => p.Model, StringComparer.Ordinal);
    }

    /// <summary>Adds or changes a model's prices; applies to requests that start after the change.</summary>
    public Task<ModelPrice> SaveAsync(ModelPrice price, CancellationToken cancellationToken) =>
        SaveAsync(price, null, null, cancellationToken);

    /// <summary>
    /// Adds or changes a model's prices; applies to requests that start after the change. A description or
    /// context window left unset keeps the model's current one. When an admin makes the change, it goes in
    /// their activity log.
    /// </summary>
    public async Task<ModelPrice> SaveAsync(ModelPrice price, long? actorAccountId, string? clientAddress, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(price.Model) || price.Model.Length > 200)
        {
            throw new ArgumentException("A model name must be 1 to 200 characters.");
        }

        if (price.InputMicrosPerMillion < 0 || price.CachedInputMicrosPerMillion < 0 || price.OutputMicrosPerMillion < 0 || price.ReserveOutputTokens < 0)
        {
            throw new ArgumentException("Prices and the output reserve cannot be negative.");
        }

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var existing = await db.ModelPrices.FirstOrDefaultAsync(p => p.Model == price.Model, cancellationToken);
        price.UpdatedAt = DateTime.UtcNow;
        if (existing is null)
        {
            db.ModelPrices.Add(price);
        }
        else
        {
            price.Description ??= existing.Description;
            price.ContextWindow ??= existing.ContextWindow;
        }

        if (actorAccountId is { } actor)
        {
            db.AuditEvents.Add(new AuditEvent
            {
                AccountId = actor,
                ActorAccountId = actor,
                Kind = existing is null ? AuditKinds.ModelAdded : AuditKinds.ModelPriceChanged,
                Detail = existing is null ? $"{price.Model}: {Describe(price)}" : $"{price.Model}: {Describe(existing)} -> {Describe(price)}",
                ClientAddress = clientAddress,
                CreatedAt = price.UpdatedAt,
            });
        }

        if (existing is not null)
        {
            db.Entry(existing).CurrentValues.SetValues(price);
        }

        ChangeFeed.Record(db, ChangeKinds.Price, null);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke();
        await LoadAsync(cancellationToken);
        return price;
    }

    public async Task<bool> RemoveAsync(string model, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var removed = await db.ModelPrices.Where(p => p.Model == model).ExecuteDeleteAsync(cancellationToken);
        if (removed > 0)
        {
            ChangeFeed.Record(db, ChangeKinds.Price, null);
            await db.SaveChangesAsync(cancellationToken);
            changes.Poke();
        }

        return removed > 0;
    }

    public static IEnumerable<ModelPrice> DefaultRows(DateTime now) => Defaults.Select(d => new ModelPrice
    {
        Model = d.Model,
        Description = d.Description,
        InputMicrosPerMillion = Money.FromDollars(d.Input),
        CachedInputMicrosPerMillion = Money.FromDollars(d.CachedInput),
        OutputMicrosPerMillion = Money.FromDollars(d.Output),
        ReserveOutputTokens = d.ReserveOutput,
        ContextWindow = d.ContextWindow,
        UpdatedAt = now,
    });

    private static string Describe(ModelPrice price) =>
        $"input {Money.Format(price.InputMicrosPerMillion)}, cached {Money.Format(price.CachedInputMicrosPerMillion)}, output {Money.Format(price.OutputMicrosPerMillion)} per million tokens, reserve {price.ReserveOutputTokens} output tokens";

    public void OnChanged(IReadOnlyList<ChangeLogEntry> changes)
    {
        if (changes.Any(c => c.Kind == ChangeKinds.Price))
        {
            LoadAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
    }
}
