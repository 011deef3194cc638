using System.Globalization;

namespace TokenPool.Billing;

/// <summary>Money is held as whole micro-dollars (1 USD = 1,000,000 micros) and never as floating point.</summary>
internal static class Money
{
    public const long MicrosPerDollar = 1_000_000;

    public static long FromDollars(decimal dollars) => checked((long)decimal.Round(dollars * MicrosPerDollar, MidpointRounding.AwayFromZero));

    public static decimal ToDollars(long micros) => (decimal)micros / MicrosPerDollar;

    /// <summary>e.g. <c>$12.345678</c>, trailing zeros trimmed to cents.</summary>
    public static string Format(long micros)
    {
        var dollars = ToDollars(micros);
        var text = dollars.ToString("0.00####", CultureInfo.InvariantCulture);
        return dollars < 0 ? "-$" + text[1..] : "$" + text;
    }

    /// <summary>Plain decimal dollars for machine-readable output, e.g. <c>12.345678</c>.</summary>
    public static string Plain(long micros) => ToDollars(micros).ToString("0.######", CultureInfo.InvariantCulture);
}
