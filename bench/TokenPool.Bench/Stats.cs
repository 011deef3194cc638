using System.Globalization;

namespace TokenPool.Bench;

/// <summary>Median and interquartile range over rounds, and quantiles of one round's samples.</summary>
internal static class Stats
{
    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        var position = q * (sorted.Length - 1);
        var lower = (int)Math.Floor(position);
        var upper = (int)Math.Ceiling(position);
        return sorted[lower] + ((sorted[upper] - sorted[lower]) * (position - lower));
    }

    public static double Median(IReadOnlyList<double> values) => Quantile(values, 0.5);

    /// <summary>"median [q1 – q3]" with the given number format.</summary>
    public static string Spread(IReadOnlyList<double> values, string format) =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Median(values).ToString(format, CultureInfo.InvariantCulture)} [{Quantile(values, 0.25).ToString(format, CultureInfo.InvariantCulture)}–{Quantile(values, 0.75).ToString(format, CultureInfo.InvariantCulture)}]");
}
