using System.Globalization;
using System.Net;
using System.Text;
using TokenPool.Billing;

namespace TokenPool.WebConsole;

/// <summary>One stacked series of a daily chart: a model or a key, its value on each day of the range, and its colour.</summary>
internal sealed record ChartSeries(string Label, IReadOnlyList<long> Values, string Colour)
{
    public long Total => Values.Sum();
}

/// <summary>A daily stacked bar chart: the days on the x axis, one series per model or key.</summary>
internal sealed record DailyChart(IReadOnlyList<DateOnly> Days, IReadOnlyList<ChartSeries> Series)
{
    public long Total => Series.Sum(s => s.Total);
}

/// <summary>
/// Server-rendered charts for the usage page: the daily rollup folded into stacked series and drawn as an
/// inline SVG (no script, no external file), so the page works offline and under the console's CSP.
/// </summary>
internal static class UsageChart
{
    /// <summary>Series beyond this many (the smallest) are folded into one "other" series.</summary>
    public const int MaxSeries = 6;

    public const string OtherLabel = "other";

    private static readonly string[] Palette = ["#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#0c8599", "#e03131"];
    private const string OtherColour = "#adb5bd";

    private const double Width = 480;
    private const double Height = 200;
    private const double Left = 72;
    private const double Right = 18;
    private const double Top = 10;
    private const double Bottom = 24;

    /// <summary>
    /// Folds daily rows into one value per day (every day of the range, empty days as zero) per series, the
    /// largest series first, at most <see cref="MaxSeries"/> of them with the rest summed into "other".
    /// </summary>
    public static DailyChart Build(IReadOnlyList<DailyUsage> rows, DateOnly from, DateOnly to, Func<DailyUsage, string> label, Func<DailyUsage, long> value)
    {
        var days = Enumerable.Range(0, Math.Max(0, to.DayNumber - from.DayNumber + 1)).Select(from.AddDays).ToList();
        var byLabel = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            var index = row.Day.DayNumber - from.DayNumber;
            if (index < 0 || index >= days.Count)
            {
                continue;
            }

            var name = label(row);
            if (!byLabel.TryGetValue(name, out var values))
            {
                byLabel[name] = values = new long[days.Count];
            }

            values[index] += value(row);
        }

        var ranked = byLabel.Select(p => (Label: p.Key, Values: p.Value, Total: p.Value.Sum()))
            .Where(s => s.Total != 0)
            .OrderByDescending(s => s.Total).ThenBy(s => s.Label, StringComparer.Ordinal)
            .ToList();
        var keep = ranked.Count <= MaxSeries ? ranked.Count : MaxSeries - 1;
        var series = ranked.Take(keep).Select((s, i) => new ChartSeries(s.Label, s.Values, Palette[i % Palette.Length])).ToList();
        if (ranked.Count > keep)
        {
            var other = new long[days.Count];
            foreach (var rest in ranked.Skip(keep))
            {
                for (var i = 0; i < other.Length; i++)
                {
                    other[i] += rest.Values[i];
                }
            }

            series.Add(new ChartSeries(OtherLabel, other, OtherColour));
        }

        return new DailyChart(days, series);
    }

    /// <summary>The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above <paramref name="max"/>: the top of the y axis.</summary>
    public static long NiceCeiling(long max)
    {
        if (max <= 1)
        {
            return 1;
        }

        long magnitude = 1;
        while (magnitude <= max / 10)
        {
            magnitude *= 10;
        }

        foreach (var step in new[] { 10L, 20L, 25L, 50L, 100L })
        {
            var candidate = magnitude * step / 10;
            if (candidate >= max && candidate > 0)
            {
                return candidate;
            }
        }

        return magnitude * 10;
    }

    /// <summary>A token count for an axis: 950, 1.25k, 3.4M, 1.1B.</summary>
    public static string Tokens(long count)
    {
        var c = CultureInfo.InvariantCulture;
        var size = Math.Abs((double)count);
        return size switch
        {
            >= 1e9 => (count / 1e9).ToString("0.##", c) + "B",
            >= 1e6 => (count / 1e6).ToString("0.##", c) + "M",
            >= 1e3 => (count / 1e3).ToString("0.##", c) + "k",
            _ => count.ToString(c),
        };
    }

    /// <summary>Money for an axis: whole cents when that is precise enough, else the full amount.</summary>
    public static string AxisMoney(long micros) =>
        micros % 10_000 == 0 ? "$" + Money.ToDollars(micros).ToString("0.00", CultureInfo.InvariantCulture) : Money.Format(micros);

    /// <summary>Draws the chart as an SVG element; each bar segment has a tooltip with the day, series and value.</summary>
    public static string Svg(DailyChart chart, string title, Func<long, string> axisLabel, Func<long, string> valueLabel)
    {
        var c = CultureInfo.InvariantCulture;
        var svg = new StringBuilder(4096);
        svg.Append(c, $"<svg class=\"chart\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{Encode(title)}\" xmlns=\"http://www.w3.org/2000/svg\">");
        svg.Append("<title>").Append(Encode(title)).Append("</title>");
        var plotWidth = Width - Left - Right;
        var plotHeight = Height - Top - Bottom;
        var dayTotals = chart.Days.Select((_, i) => chart.Series.Sum(s => s.Values[i])).ToList();
        var top = NiceCeiling(dayTotals.Count == 0 ? 0 : dayTotals.Max());

        for (var tick = 0; tick <= 4; tick++)
        {
            var y = Top + plotHeight - (plotHeight * tick / 4);
            var label = axisLabel((long)Math.Round(top * tick / 4.0));
            svg.Append(c, $"<line x1=\"{Left:0.#}\" y1=\"{y:0.#}\" x2=\"{Width - Right:0.#}\" y2=\"{y:0.#}\" stroke=\"#e3e6eb\" stroke-width=\"1\"/>");
            svg.Append(c, $"<text x=\"{Left - 6:0.#}\" y=\"{y + 4:0.#}\" text-anchor=\"end\" font-size=\"12\" fill=\"#5d6572\">{Encode(label)}</text>");
        }

        if (chart.Days.Count > 0)
        {
            var slot = plotWidth / chart.Days.Count;
            var barWidth = Math.Max(1, slot * 0.72);
            var labelEvery = (int)Math.Ceiling(chart.Days.Count / 6.0);
            for (var i = 0; i < chart.Days.Count; i++)
            {
                var x = Left + (slot * i) + ((slot - barWidth) / 2);
                var baseline = Top + plotHeight;
                foreach (var series in chart.Series)
                {
                    var value = series.Values[i];
                    if (value <= 0)
                    {
                        continue;
                    }

                    var h = plotHeight * value / top;
                    baseline -= h;
                    svg.Append(c, $"<rect x=\"{x:0.##}\" y=\"{baseline:0.##}\" width=\"{barWidth:0.##}\" height=\"{h:0.##}\" fill=\"{series.Colour}\">");
                    svg.Append("<title>").Append(Encode($"{UsageFilterForm.Format(chart.Days[i])} · {series.Label}: {valueLabel(value)}")).Append("</title></rect>");
                }

                if ((chart.Days.Count - 1 - i) % labelEvery == 0)
                {
                    var day = chart.Days[i].ToString("MM-dd", c);
                    svg.Append(c, $"<text x=\"{Left + (slot * i) + (slot / 2):0.#}\" y=\"{Height - 6:0.#}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#5d6572\">{day}</text>");
                }
            }
        }

        if (chart.Total == 0)
        {
            svg.Append(c, $"<text x=\"{Left + (plotWidth / 2):0.#}\" y=\"{Top + (plotHeight / 2):0.#}\" text-anchor=\"middle\" font-size=\"14\" fill=\"#5d6572\">No usage in this range</text>");
        }

        svg.Append("</svg>");
        return svg.ToString();
    }

    private static string Encode(string text) => WebUtility.HtmlEncode(text);
}
