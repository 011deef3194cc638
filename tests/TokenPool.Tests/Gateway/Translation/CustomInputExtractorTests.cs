using System.Text;
using System.Text.Json;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>
/// A custom tool's input is read out of the JSON arguments of the function that stood for it, as the arguments
/// stream: whatever the fragments, every delta is a whole JSON string and together they are the input.
/// </summary>
public sealed class CustomInputExtractorTests
{
    public static TheoryData<string> Arguments() =>
    [
        """{"input":"*** Begin Patch\n*** Add File: a.txt\n+hi \"there\" \\ done\n*** End Patch\n"}""",
        """{ "input" : "caf\u00e9 \ud83d\ude00 tab\tend" }""",
        "{\"input\":\"emoji 😀 and 中文\"}",
    ];

    [Theory]
    [MemberData(nameof(Arguments))]
    public void ArgumentsCutAnywhere_GiveValidDeltasThatAddUpToTheInput(string arguments)
    {
        var expected = JsonDocument.Parse(arguments).RootElement.GetProperty("input").GetString();
        var runes = arguments.EnumerateRunes().Select(r => r.ToString()).ToArray();
        for (var cut = 1; cut < runes.Length; cut++)
        {
            for (var second = cut; second < runes.Length; second += 5)
            {
                var pieces = new[] { string.Concat(runes[..cut]), string.Concat(runes[cut..second]), string.Concat(runes[second..]) };
                using var extractor = new CustomInputExtractor();
                using var delta = new ByteBuffer();
                var streamed = new StringBuilder();
                foreach (var piece in pieces.Where(p => p.Length > 0))
                {
                    // Each fragment arrives as its own JSON string in the upstream's chunk.
                    extractor.Feed(JsonText.Escape(piece), delta);
                    if (!delta.IsEmpty)
                    {
                        streamed.Append(JsonDocument.Parse("\"" + Encoding.UTF8.GetString(delta.Span) + "\"").RootElement.GetString());
                    }
                }

                Assert.Equal(expected, streamed.ToString());
                Assert.Equal(expected, JsonText.Decode(extractor.Finish()));
            }
        }
    }

    [Fact]
    public void RawControlCharactersAModelWroteInsideTheString_AreEscapedInTheDeltas()
    {
        using var extractor = new CustomInputExtractor();
        using var delta = new ByteBuffer();

        extractor.Feed(JsonText.Escape("{\"input\":\"line1\nline2\"}"), delta);

        Assert.Equal("line1\\nline2", Encoding.UTF8.GetString(delta.Span));
        Assert.Equal("line1\nline2", JsonText.Decode(extractor.Finish()));
    }

    [Theory]
    [InlineData("{\"other\":1,\"input\":\"x\"}", "x")]
    [InlineData("*** Begin Patch\n", "*** Begin Patch\n")]
    [InlineData("{\"inputs\":\"x\"}", "{\"inputs\":\"x\"}")]
    public void ArgumentsNotOpeningWithTheInput_AreReadWholeAtTheEnd(string arguments, string input)
    {
        using var extractor = new CustomInputExtractor();
        using var delta = new ByteBuffer();

        extractor.Feed(JsonText.Escape(arguments), delta);

        Assert.True(delta.IsEmpty);
        Assert.Equal(input, JsonText.Decode(extractor.Finish()));
    }
}
