using TokenPool.Keys;

namespace TokenPool.Tests.Keys;

public sealed class ApiKeyFormatTests
{
    [Fact]
    public void GeneratedKeys_AreValid_Unique_AndCarryThePrefix()
    {
        var keys = Enumerable.Range(0, 1000).Select(_ => ApiKeyFormat.Generate()).ToList();

        Assert.All(keys, key =>
        {
            Assert.StartsWith("sk-tp-", key, StringComparison.Ordinal);
            Assert.Equal(ApiKeyFormat.Length, key.Length);
            Assert.Equal(ApiKeyShape.Valid, ApiKeyFormat.Check(key));
        });
        Assert.Equal(keys.Count, keys.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void TruncatedKey_IsRecognisedAsTooShort()
    {
        var key = ApiKeyFormat.Generate();

        Assert.Equal(ApiKeyShape.TooShort, ApiKeyFormat.Check(key[..^1]));
        Assert.Equal(ApiKeyShape.TooShort, ApiKeyFormat.Check(key[..20]));
    }

    [Fact]
    public void MistypedCharacter_FailsTheChecksum()
    {
        var key = ApiKeyFormat.Generate();
        var position = 10;
        var replacement = key[position] == 'a' ? 'b' : 'a';
        var mistyped = key[..position] + replacement + key[(position + 1)..];

        Assert.Equal(ApiKeyShape.ChecksumMismatch, ApiKeyFormat.Check(mistyped));
    }

    [Theory]
    [InlineData("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", "ForeignKey")]
    [InlineData("my password", "NotAKey")]
    [InlineData("https://api.clawto.link", "NotAKey")]
    public void OtherStrings_AreNotMistakenForKeys(string value, string expected) =>
        Assert.Equal(expected, ApiKeyFormat.Check(value).ToString());

    [Fact]
    public void KeyWithTrailingText_IsTooLong()
    {
        var key = ApiKeyFormat.Generate();

        Assert.Equal(ApiKeyShape.TooLong, ApiKeyFormat.Check(key + "x"));
    }
}
