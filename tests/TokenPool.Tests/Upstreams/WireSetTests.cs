using TokenPool.Gateway.Translation;
using TokenPool.Upstreams;

namespace TokenPool.Tests.Upstreams;

public sealed class WireSetTests
{
    [Theory]
    [InlineData("responses,chat", "responses,chat")]
    [InlineData(" Chat , responses ", "responses,chat")]
    [InlineData("chat", "chat")]
    [InlineData("messages,chat,chat", "chat,messages")]
    public void AListOfApis_ReadsAsItsSet_InTheUsualOrder(string text, string expected)
    {
        Assert.True(WireSet.TryParse(text, out var set, out var error), error);
        Assert.Equal(expected, set.ToString());
    }

    [Theory]
    [InlineData("", "Name at least one API")]
    [InlineData(" , ", "Name at least one API")]
    [InlineData("responses,completions", "\"completions\" is not an API TokenPool knows")]
    public void AnEmptyOrUnknownApi_IsRefusedWithAMessageThatSaysWhatToWrite(string text, string message)
    {
        Assert.False(WireSet.TryParse(text, out _, out var error));
        Assert.Contains(message, error, StringComparison.Ordinal);
        Assert.Contains("responses, chat or messages", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDefault_IsWhatOpenAiServes()
    {
        Assert.True(WireSet.OpenAi.Contains(ApiKind.Responses));
        Assert.True(WireSet.OpenAi.Contains(ApiKind.ChatCompletions));
        Assert.False(WireSet.OpenAi.Contains(ApiKind.Messages));
        Assert.Equal("responses,chat", new Channel { Name = "c", BaseUrl = "http://127.0.0.1:9/v1", Models = "m" }.Wire.ToString());
    }
}
