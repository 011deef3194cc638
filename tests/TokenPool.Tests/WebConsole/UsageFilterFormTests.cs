using TokenPool.Billing;
using TokenPool.WebConsole;

namespace TokenPool.Tests.WebConsole;

public sealed class UsageFilterFormTests
{
    private static readonly DateOnly Today = new(2026, 11, 22);

    [Fact]
    public void NoFields_MeanTheLast30DaysOfEverything()
    {
        var choice = Assert.IsType<UsageFilterChoice>(UsageFilterForm.Parse(null, "", " ", null, null, Today).Choice);

        Assert.Equal(new DateOnly(2026, 10, 24), choice.From);
        Assert.Equal(Today, choice.To);
        Assert.Equal(30, choice.Days);
        Assert.Null(choice.KeyId);
        Assert.Null(choice.Model);
        Assert.Equal(StatusFilter.Any, choice.Status);
    }

    [Fact]
    public void Dates_AreWholeUtcDays_TheEndDayIncluded()
    {
        var filter = UsageFilterForm.Parse("2026-11-01", "2026-11-03", "7", " gpt-5.5 ", "failed", Today).Choice!.For(42);

        Assert.Equal(new DateTime(2026, 11, 1, 0, 0, 0, DateTimeKind.Utc), filter.From);
        Assert.Equal(new DateTime(2026, 11, 4, 0, 0, 0, DateTimeKind.Utc), filter.To);
        Assert.Equal(DateTimeKind.Utc, filter.From.Kind);
        Assert.Equal(42, filter.AccountId);
        Assert.Equal(7, filter.KeyId);
        Assert.Equal("gpt-5.5", filter.Model);
        Assert.Equal(StatusFilter.Failed, filter.Status);
    }

    [Fact]
    public void OnlyAStartDate_RunsToToday_OrToThatDayWhenItIsLater()
    {
        Assert.Equal(Today, UsageFilterForm.Parse("2026-11-10", null, null, null, null, Today).Choice!.To);
        var future = UsageFilterForm.Parse("2026-12-05", null, null, null, null, Today).Choice!;
        Assert.Equal(future.From, future.To);
    }

    [Fact]
    public void OnlyAnEndDate_ShowsThe30DaysBeforeIt()
    {
        var choice = UsageFilterForm.Parse(null, "2026-06-30", null, null, null, Today).Choice!;

        Assert.Equal(new DateOnly(2026, 6, 1), choice.From);
        Assert.Equal(30, choice.Days);
    }

    [Fact]
    public void TheLongestAllowedRange_IsExactlyWhatTheQueriesAccept()
    {
        var longest = UsageFilterForm.Parse("2025-11-22", "2026-11-22", null, null, null, Today);
        var tooLong = UsageFilterForm.Parse("2025-11-21", "2026-11-22", null, null, null, Today);

        Assert.Equal(366, longest.Choice!.Days);
        var filter = longest.Choice.For(1);
        Assert.Equal(UsageQueries.MaxRange, filter.To - filter.From);
        Assert.Null(tooLong.Choice);
        Assert.Equal("That range covers 367 days. Choose a range of at most 366 days.", tooLong.Error);
    }

    [Theory]
    [InlineData("2026-13-01", null, null, null, "The start date \"2026-13-01\" is not a date. Use the form YYYY-MM-DD, for example 2026-11-22.")]
    [InlineData(null, "22/11/2026", null, null, "The end date \"22/11/2026\" is not a date. Use the form YYYY-MM-DD, for example 2026-11-22.")]
    [InlineData("0001-01-01", null, null, null, "The start date 0001-01-01 is out of range. Choose a date between 2000-01-01 and 9000-12-31.")]
    [InlineData(null, "9999-12-31", null, null, "The end date 9999-12-31 is out of range. Choose a date between 2000-01-01 and 9000-12-31.")]
    [InlineData("2026-11-10", "2026-11-09", null, null, "The end date is before the start date. Choose an end date on or after the start date.")]
    [InlineData(null, null, "-3", null, "That key filter is not valid. Choose a key from the list.")]
    [InlineData(null, null, "12abc", null, "That key filter is not valid. Choose a key from the list.")]
    [InlineData(null, null, "0", null, "That key filter is not valid. Choose a key from the list.")]
    [InlineData(null, null, null, "ok", "That status filter is not valid. Choose any, succeeded or failed.")]
    public void BadInput_GivesAMessageSayingWhatToChange(string? from, string? to, string? key, string? status, string message)
    {
        var result = UsageFilterForm.Parse(from, to, key, null, status, Today);

        Assert.Null(result.Choice);
        Assert.Equal(message, result.Error);
    }

    [Fact]
    public void AVeryLongBadDate_IsShortenedInTheMessage()
    {
        var error = UsageFilterForm.Parse(new string('x', 5000), null, null, null, null, Today).Error!;

        Assert.True(error.Length < 200, error);
    }

    [Theory]
    [InlineData("any", 0)]
    [InlineData("Succeeded", 1)]
    [InlineData(" failed ", 2)]
    public void Status_IsReadWhateverTheCase(string text, int status)
    {
        var expected = (StatusFilter)status;
        Assert.Equal(expected, UsageFilterForm.Parse(null, null, "all", null, text, Today).Choice!.Status);
        Assert.Equal(expected, UsageFilterForm.Parse(null, null, null, null, UsageFilterForm.StatusValue(expected), Today).Choice!.Status);
    }
}
