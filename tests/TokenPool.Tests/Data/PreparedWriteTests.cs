using System.Globalization;
using System.Text;
using TokenPool.Data;

namespace TokenPool.Tests.Data;

public sealed class PreparedWriteTests
{
    /// <summary>Usage records' dates are read back by EF Core, so they must be stored exactly as SqliteCommand stores them.</summary>
    [Fact]
    public void DatesAreWrittenAsSqliteCommandWritesThem()
    {
        var random = new Random(20261123);
        var dates = new List<DateTime>
        {
            new(2026, 11, 23, 0, 0, 0, DateTimeKind.Utc),
            new(2026, 1, 2, 3, 4, 5, 600, DateTimeKind.Utc),
            new DateTime(2026, 12, 31, 23, 59, 59, DateTimeKind.Utc).AddTicks(9_999_999),
            new DateTime(2026, 6, 15, 12, 30, 45, DateTimeKind.Utc).AddTicks(1),
            new DateTime(2026, 6, 15, 12, 30, 45, DateTimeKind.Utc).AddTicks(1_000_000),
            DateTime.MinValue,
            DateTime.MaxValue,
        };
        for (var i = 0; i < 10_000; i++)
        {
            dates.Add(new DateTime(random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks), DateTimeKind.Utc));
        }

        Span<byte> text = stackalloc byte[27];
        foreach (var date in dates)
        {
            var length = PreparedWrite.FormatDate(date, text);
            Assert.Equal(date.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture), Encoding.UTF8.GetString(text[..length]));
        }
    }
}
