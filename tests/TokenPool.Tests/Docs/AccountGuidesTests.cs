using System.Text.RegularExpressions;
using TokenPool.Accounts;
using TokenPool.Docs;
using TokenPool.Mail;
using TokenPool.WebConsole;

namespace TokenPool.Tests.Docs;

/// <summary>The account guide and the security page cover every sign-in feature, and every setting they name exists.</summary>
public sealed partial class AccountGuidesTests
{
    private static readonly GuideLibrary Library = GuideLibrary.LoadEmbedded();

    [Fact]
    public void TheAccountGuide_CoversEachFeature()
    {
        var guide = Library.Find("account");
        Assert.NotNull(guide);
        foreach (var heading in new[] { "## Create an account", "### Confirm your email", "## Sign in", "## Forgot your password", "## Where you are signed in", "## Two-factor sign-in", "## Passkeys", "## Activity" })
        {
            Assert.Contains(heading, guide.Source, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TheSecurityPage_DescribesSessionsThrottlingStorageAndLogs()
    {
        var guide = Library.Find("security");
        Assert.NotNull(guide);
        foreach (var heading in new[] { "## What TokenPool stores", "## What TokenPool logs", "## Console sessions", "## Sign-in throttling" })
        {
            Assert.Contains(heading, guide.Source, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("account")]
    [InlineData("security")]
    public void EverySettingTheGuidesName_Exists(string slug)
    {
        var source = Library.Find(slug)!.Source;
        var sections = new Dictionary<string, Type>
        {
            ["Console"] = typeof(ConsoleOptions),
            ["Accounts"] = typeof(AccountOptions),
            ["Mail"] = typeof(MailOptions),
        };
        foreach (Match setting in Setting().Matches(source))
        {
            var type = sections[setting.Groups[1].Value];
            Assert.True(type.GetProperty(setting.Groups[2].Value) is not null, $"{setting.Value} is not a setting of {type.Name}.");
        }
    }

    [GeneratedRegex(@"\b(Console|Accounts|Mail):([A-Za-z]+)")]
    private static partial Regex Setting();
}
