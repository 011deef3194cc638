using TokenPool.WebConsole.Pages.Admin;

namespace TokenPool.Tests.WebConsole;

public sealed class ModelPriceFormTests
{
    [Theory]
    [InlineData("-0.5", "cannot be negative")]
    [InlineData("0.0000001", "at most 6 decimal places")]
    [InlineData("1e3", "is not a number")]
    [InlineData("1,25", "is not a number")]
    [InlineData("", "is missing")]
    [InlineData("10000.01", "at most $10,000")]
    public void ToPrice_RefusesABadInputPriceWithAMessage(string input, string message)
    {
        var (price, error) = new ModelPriceForm { Model = "m", Input = input, Output = "1" }.ToPrice();

        Assert.Null(price);
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void ToPrice_ReadsDollarsToTheMicroDollar_CachedDefaultsToATenthOfInput()
    {
        var (price, error) = new ModelPriceForm { Model = " m ", Input = "$1.234567", Output = "0", ReserveOutput = "" }.ToPrice();

        Assert.Null(error);
        Assert.Equal(("m", 1_234_567L, 123_457L, 0L, 16_384), (price!.Model, price.InputMicrosPerMillion, price.CachedInputMicrosPerMillion, price.OutputMicrosPerMillion, price.ReserveOutputTokens));
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("2000000")]
    [InlineData("many")]
    public void ToPrice_RefusesABadReserve(string reserve)
    {
        var (price, error) = new ModelPriceForm { Model = "m", Input = "1", Output = "1", ReserveOutput = reserve }.ToPrice();

        Assert.Null(price);
        Assert.Contains("output reserve", error, StringComparison.Ordinal);
    }
}
