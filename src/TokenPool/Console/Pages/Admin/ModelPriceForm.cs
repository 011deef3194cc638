using System.Globalization;
using TokenPool.Billing;

namespace TokenPool.WebConsole.Pages.Admin;

/// <summary>A model's prices as an admin types them: US dollars per million tokens, checked before they are saved.</summary>
internal sealed class ModelPriceForm
{
    /// <summary>The highest price per million tokens the form accepts, as a guard against a slipped digit.</summary>
    public const decimal MaxDollarsPerMillion = 10_000m;

    public const int MaxReserveOutputTokens = 1_000_000;

    public const int DefaultReserveOutputTokens = 16_384;

    public string? Model { get; set; }

    public string? Input { get; set; }

    public string? CachedInput { get; set; }

    public string? Output { get; set; }

    public string? ReserveOutput { get; set; }

    public static ModelPriceForm From(ModelPrice price) => new()
    {
        Model = price.Model,
        Input = Money.Plain(price.InputMicrosPerMillion),
        CachedInput = Money.Plain(price.CachedInputMicrosPerMillion),
        Output = Money.Plain(price.OutputMicrosPerMillion),
        ReserveOutput = price.ReserveOutputTokens.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>
    /// The prices to save, or a message that says what to fix. As with <c>tokenpool model set</c>, an empty
    /// cached input price is a tenth of the input price and an empty reserve is 16,384 output tokens.
    /// </summary>
    public (ModelPrice? Price, string? Error) ToPrice()
    {
        var model = Model?.Trim();
        if (string.IsNullOrEmpty(model) || model.Length > 200 || model.Any(char.IsWhiteSpace))
        {
            return (null, "Type the model name as clients send it: 1 to 200 characters, no spaces.");
        }

        if (Dollars(Input, "The input price") is { Error: { } inputError })
        {
            return (null, inputError);
        }

        if (Dollars(Output, "The output price") is { Error: { } outputError })
        {
            return (null, outputError);
        }

        var input = Dollars(Input, "The input price").Value!.Value;
        var output = Dollars(Output, "The output price").Value!.Value;
        decimal cached = decimal.Round(input / 10, 6, MidpointRounding.AwayFromZero);
        if (!string.IsNullOrWhiteSpace(CachedInput))
        {
            var parsed = Dollars(CachedInput, "The cached input price");
            if (parsed.Error is { } cachedError)
            {
                return (null, cachedError);
            }

            cached = parsed.Value!.Value;
        }

        var reserve = DefaultReserveOutputTokens;
        if (!string.IsNullOrWhiteSpace(ReserveOutput)
            && (!int.TryParse(ReserveOutput.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out reserve) || reserve is < 0 or > MaxReserveOutputTokens))
        {
            return (null, $"The output reserve must be a whole number of tokens from 0 to {MaxReserveOutputTokens:N0}.");
        }

        return (new ModelPrice
        {
            Model = model,
            InputMicrosPerMillion = Money.FromDollars(input),
            CachedInputMicrosPerMillion = Money.FromDollars(cached),
            OutputMicrosPerMillion = Money.FromDollars(output),
            ReserveOutputTokens = reserve,
        }, null);
    }

    private static (decimal? Value, string? Error) Dollars(string? text, string what)
    {
        var trimmed = text?.Trim().TrimStart('$').Trim();
        if (string.IsNullOrEmpty(trimmed))
        {
            return (null, $"{what} is missing. Type US dollars per million tokens, e.g. 1.25.");
        }

        if (!decimal.TryParse(trimmed, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
        {
            return (null, $"{what} \"{text}\" is not a number. Type US dollars per million tokens, e.g. 1.25.");
        }

        if (value < 0)
        {
            return (null, $"{what} cannot be negative.");
        }

        if (value.Scale > 6 && value != decimal.Round(value, 6))
        {
            return (null, $"{what} can have at most 6 decimal places: prices are kept to a millionth of a dollar.");
        }

        if (value > MaxDollarsPerMillion)
        {
            return (null, $"{what} must be at most ${MaxDollarsPerMillion:N0} per million tokens.");
        }

        return (value, null);
    }
}
