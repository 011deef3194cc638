using TokenPool.Simulator;

namespace TokenPool.Tests.Simulator;

public sealed class JsonBodyTests
{
    private const string Twice = """{"max_output_tokens":1,"nested":{"a":1,"a":2},"max_output_tokens":100000}""";

    [Fact]
    public void ARepeatedKey_ByDefault_TakesTheLastValue_AtEveryLevel()
    {
        var body = JsonBody.Parse(Twice, null)!;

        Assert.Equal(100000, (long)body["max_output_tokens"]!);
        Assert.Equal(2, (int)body["nested"]!["a"]!);
    }

    [Fact]
    public void ARepeatedKey_UnderFirst_KeepsTheFirstValue()
    {
        var body = JsonBody.Parse(Twice, "first")!;

        Assert.Equal(1, (long)body["max_output_tokens"]!);
        Assert.Equal(1, (int)body["nested"]!["a"]!);
    }

    [Fact]
    public void ARepeatedKey_UnderReject_NamesItsPath()
    {
        var error = Assert.Throws<DuplicateKeyException>(() => JsonBody.Parse("""{"nested":{"a":1,"a":2}}""", "reject"));

        Assert.Equal("nested.a", error.Path);
    }

    [Fact]
    public void ABodyThatIsNotAnObject_IsNull()
    {
        Assert.Null(JsonBody.Parse("[1,2]", null));
    }
}
