using TokenPool.Cli;

namespace TokenPool.Tests.Cli;

public sealed class SimpleTomlTests
{
    [Fact]
    public void Parse_ReadsTablesStringsAndLineNumbers()
    {
        var entries = SimpleToml.Parse("""
            # a comment
            model_provider = "tokenpool"   # trailing comment
            model = 'gpt-5.5'

            [model_providers.tokenpool]
            base_url = "https://api.clawto.link/v1#not-a-comment"
            requires_openai_auth = true
            """);

        Assert.Contains(entries, e => e is { Table: "", Key: "model_provider", Value: "tokenpool", Line: 2 });
        Assert.Contains(entries, e => e is { Table: "", Key: "model", Value: "gpt-5.5" });
        Assert.Contains(entries, e => e is { Table: "model_providers.tokenpool", Key: "base_url", Value: "https://api.clawto.link/v1#not-a-comment" });
        Assert.Contains(entries, e => e is { Table: "model_providers.tokenpool", Key: "requires_openai_auth", Value: "true" });
    }

    [Theory]
    [InlineData("sk-tp-AbcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ123456", "sk-tp-Abcd…3456")]
    [InlineData("short", "5 characters")]
    public void Masked_ShowsAtMostThePrefixAndTheLastFour(string key, string expected)
    {
        Assert.Equal(expected, Doctor.Masked(key));
    }
}
