using System.Text.RegularExpressions;
using System.Xml.Linq;
using TokenPool.Billing;
using TokenPool.WebConsole;

namespace TokenPool.Tests.WebConsole;

public sealed partial class UsageChartTests
{
    private static readonly DateOnly Day1 = new(2026, 11, 20);

    private static DailyUsage Row(DateOnly day, string model, long charged, long input = 0, long output = 0) =>
        new(day, model, null, 1, input, 0, output, 0, charged);

    [Fact]
    public void Build_GivesEveryDayOfTheRange_EmptyDaysAsZero_LargestSeriesFirst()
    {
        var chart = UsageChart.Build(
            [Row(Day1, "gpt-5.4-mini", 5), Row(Day1.AddDays(2), "gpt-5.5", 30), Row(Day1.AddDays(2), "gpt-5.4-mini", 7), Row(Day1, "gpt-5.5", 1)],
            Day1, Day1.AddDays(3), d => d.Model!, d => d.ChargedMicros);

        Assert.Equal([Day1, Day1.AddDays(1), Day1.AddDays(2), Day1.AddDays(3)], chart.Days);
        Assert.Equal(["gpt-5.5", "gpt-5.4-mini"], chart.Series.Select(s => s.Label));
        Assert.Equal([1L, 0, 30, 0], chart.Series[0].Values);
        Assert.Equal([5L, 0, 7, 0], chart.Series[1].Values);
        Assert.Equal(43, chart.Total);
        Assert.NotEqual(chart.Series[0].Colour, chart.Series[1].Colour);
    }

    [Fact]
    public void Build_FoldsTheSmallestSeriesIntoOther_KeepingTheTotal()
    {
        var rows = Enumerable.Range(1, 9).Select(i => Row(Day1, "model-" + i, i * 10)).ToList();

        var chart = UsageChart.Build(rows, Day1, Day1, d => d.Model!, d => d.ChargedMicros);

        Assert.Equal(UsageChart.MaxSeries, chart.Series.Count);
        Assert.Equal(["model-9", "model-8", "model-7", "model-6", "model-5", UsageChart.OtherLabel], chart.Series.Select(s => s.Label));
        Assert.Equal(10 + 20 + 30 + 40, chart.Series[^1].Total);
        Assert.Equal(rows.Sum(r => r.ChargedMicros), chart.Total);
    }

    [Fact]
    public void Build_LeavesOutSeriesWithNothingAndRowsOutsideTheRange()
    {
        var chart = UsageChart.Build([Row(Day1, "failed-only", 0, input: 10), Row(Day1.AddDays(-1), "old", 50), Row(Day1, "gpt-5.5", 3)], Day1, Day1, d => d.Model!, d => d.ChargedMicros);

        Assert.Equal(["gpt-5.5"], chart.Series.Select(s => s.Label));
        Assert.Equal(3, chart.Total);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 1)]
    [InlineData(7, 10)]
    [InlineData(10, 10)]
    [InlineData(11, 20)]
    [InlineData(21, 25)]
    [InlineData(26, 50)]
    [InlineData(51, 100)]
    [InlineData(7_642, 10_000)]
    [InlineData(4_949, 5_000)]
    [InlineData(2_000_001, 2_500_000)]
    [InlineData(long.MaxValue / 100, 100_000_000_000_000_000)]
    public void NiceCeiling_IsTheNextRoundNumberAtOrAboveTheMaximum(long max, long expected) =>
        Assert.Equal(expected, UsageChart.NiceCeiling(max));

    [Theory]
    [InlineData(0, "0")]
    [InlineData(950, "950")]
    [InlineData(1_250, "1.25k")]
    [InlineData(3_400_000, "3.4M")]
    [InlineData(1_100_000_000, "1.1B")]
    public void Tokens_AreShortForAxes(long count, string expected) => Assert.Equal(expected, UsageChart.Tokens(count));

    [Theory]
    [InlineData(0, "$0.00")]
    [InlineData(2_500_000, "$2.50")]
    [InlineData(2_500, "$0.0025")]
    public void AxisMoney_ShowsCentsUnlessMoreIsNeeded(long micros, string expected) => Assert.Equal(expected, UsageChart.AxisMoney(micros));

    [Fact]
    public void Svg_IsWellFormed_WithOneSegmentPerNonZeroValue_StackedToTheDayTotal()
    {
        var chart = UsageChart.Build(
            [Row(Day1, "gpt-5.5", 40), Row(Day1, "<script>", 60), Row(Day1.AddDays(1), "gpt-5.5", 100)],
            Day1, Day1.AddDays(1), d => d.Model!, d => d.ChargedMicros);

        var svg = UsageChart.Svg(chart, "Spend per day", UsageChart.AxisMoney, Money.Format);

        var root = XElement.Parse(svg);
        XNamespace ns = "http://www.w3.org/2000/svg";
        var rects = root.Elements(ns + "rect").ToList();
        Assert.Equal(3, rects.Count);
        Assert.DoesNotContain("<script>", svg, StringComparison.Ordinal);
        Assert.Equal(["2026-11-20 · gpt-5.5: $0.00004", "2026-11-20 · <script>: $0.00006", "2026-11-21 · gpt-5.5: $0.0001"], rects.Select(r => r.Element(ns + "title")!.Value));
        var firstDay = rects.Take(2).Sum(r => double.Parse(r.Attribute("height")!.Value, System.Globalization.CultureInfo.InvariantCulture));
        var secondDay = double.Parse(rects[2].Attribute("height")!.Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(secondDay, firstDay, 1);
        Assert.DoesNotContain("No usage", svg, StringComparison.Ordinal);
        Assert.Equal(["11-20", "11-21"], root.Elements(ns + "text").Select(t => t.Value).Where(t => DayLabel().IsMatch(t)));
    }

    [Fact]
    public void Svg_WithNoUsage_SaysSo()
    {
        var svg = UsageChart.Svg(UsageChart.Build([], Day1, Day1.AddDays(29), d => d.Model!, d => d.ChargedMicros), "Spend per day", UsageChart.AxisMoney, Money.Format);

        Assert.Contains("No usage in this range", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("<rect", svg, StringComparison.Ordinal);
        XElement.Parse(svg);
    }

    [GeneratedRegex(@"^\d\d-\d\d$")]
    private static partial Regex DayLabel();
}
