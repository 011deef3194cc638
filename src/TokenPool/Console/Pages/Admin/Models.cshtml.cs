using Microsoft.AspNetCore.Mvc;
using TokenPool.Billing;

namespace TokenPool.WebConsole.Pages.Admin;

/// <summary>Admin: the model catalogue and its prices; change a model's prices or add a model (new requests only).</summary>
internal sealed class ModelsModel(PriceCatalog catalogue) : ConsolePageModel
{
    public List<ModelPrice> Models { get; private set; } = [];

    public ModelPriceForm Form { get; private set; } = new();

    /// <summary>True when the form edits a model that is already in the catalogue.</summary>
    public bool Editing { get; private set; }

    public void OnGet(string? model)
    {
        Load();
        if (model is not null && catalogue.Find(model) is { } price)
        {
            Form = ModelPriceForm.From(price);
            Editing = true;
        }
    }

    public async Task<IActionResult> OnPostSaveAsync(ModelPriceForm form, CancellationToken cancellationToken)
    {
        Form = form;
        var (price, error) = form.ToPrice();
        if (price is null)
        {
            Error = error;
        }
        else
        {
            try
            {
                var added = catalogue.Find(price.Model) is null;
                var saved = await catalogue.SaveAsync(price, AccountId, ClientAddress, cancellationToken);
                Notice = $"{(added ? "Added" : "Saved")} {saved.Model}: input {Money.Format(saved.InputMicrosPerMillion)}, cached input {Money.Format(saved.CachedInputMicrosPerMillion)}, output {Money.Format(saved.OutputMicrosPerMillion)} per million tokens. New requests are charged at these prices; earlier usage keeps the prices it was charged at.";
                Form = new ModelPriceForm();
            }
            catch (ArgumentException invalid)
            {
                Error = invalid.Message;
            }
        }

        Load();
        Editing = Form.Model is { } name && catalogue.Find(name.Trim()) is not null;
        return Page();
    }

    private void Load() => Models = [.. catalogue.All.Values.OrderBy(p => p.Model, StringComparer.Ordinal)];
}
