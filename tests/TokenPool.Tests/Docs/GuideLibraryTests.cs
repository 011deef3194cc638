using TokenPool.Docs;
using TokenPool.Gateway;
using TokenPool.Keys;

namespace TokenPool.Tests.Docs;

public sealed class GuideLibraryTests
{
    private static readonly GuideSnippets Snippets = new(["https://api.clawto.link", "https://api.tokenpool.dev"], "https://tokenpool.dev");

    [Fact]
    public void EveryEmbeddedGuide_HasFrontMatterAndExpandsEveryPlaceholder()
    {
        var library = GuideLibrary.LoadEmbedded();

        Assert.True(library.Guides.Count >= 8);
        Assert.All(library.Guides, guide =>
        {
            Assert.False(string.IsNullOrWhiteSpace(guide.Title));
            Assert.False(string.IsNullOrWhiteSpace(guide.Summary));
            var rendered = library.Render(guide, Snippets);
            Assert.DoesNotContain("{{", rendered.Html, StringComparison.Ordinal);
            Assert.DoesNotContain("<script", rendered.Html, StringComparison.OrdinalIgnoreCase);
        });
    }

    [Fact]
    public void Guide_WithoutFrontMatter_IsRejected()
    {
        Assert.Throws<FormatException>(() => Guide.Parse("x", "# Title\nbody"));
        Assert.Throws<FormatException>(() => Guide.Parse("x", "---\ntitle: T\nsummary: S\norder: 1\n---\nbody"));
    }

    [Fact]
    public void Guide_FrontMatter_GivesTitleOrderAndLastUpdated()
    {
        var guide = Guide.Parse("keys", "---\ntitle: API keys\nsummary: About keys\norder: 3\nupdated: 2026-05-12\n---\nBody text\n");

        Assert.Equal("API keys", guide.Title);
        Assert.Equal(3, guide.Order);
        Assert.Equal(new DateOnly(2026, 5, 12), guide.Updated);
        Assert.Equal("Body text\n", guide.Source);
    }

    [Fact]
    public void UnknownPlaceholder_IsAMistakeInTheGuide()
    {
        Assert.Throws<FormatException>(() => Snippets.Expand("{{codex-confg}}"));
    }

    [Fact]
    public void SnippetPlaceholders_ComeFromClientSetup()
    {
        var setup = new ClientSetup("https://api.clawto.link", ClientSetup.KeyPlaceholder, "gpt-5.5", "gpt-5.4-nano");

        Assert.Equal("```toml\n" + setup.CodexConfigToml() + "```", Snippets.Expand("{{codex-config}}"));
        Assert.Equal("```json\n" + setup.OpenCodeJson() + "```", Snippets.Expand("{{opencode-json}}"));
        Assert.Equal("https://api.tokenpool.dev/v1", Snippets.Expand("{{api-root-alt}}"));
    }

    [Fact]
    public void ErrorPlaceholders_QuoteTheGatewaysOwnMessages()
    {
        var expected = GatewayErrors.BadKeyShape(ApiKeyShape.TooShort, 40, "https://tokenpool.dev/console/api-keys").Message;

        Assert.Equal("```text\n" + expected + "\n```", Snippets.Expand("{{error:incomplete-key}}"));
    }

    [Fact]
    public void Troubleshooting_QuotesAMessageForEveryCommonMistake()
    {
        var library = GuideLibrary.LoadEmbedded();
        var source = library.Find("troubleshooting")!.Source;

        foreach (var name in new[] { "website-base-url", "console-base-url", "missing-key", "incomplete-key", "mistyped-key", "deleted-key", "disabled-key", "expired-key", "model-not-found", "insufficient-quota" })
        {
            Assert.Contains("{{error:" + name + "}}", source, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Search_RanksTheSectionWhoseHeadingMatches()
    {
        var library = GuideLibrary.LoadEmbedded();

        var hits = library.Search("quota", Snippets);

        Assert.NotEmpty(hits);
        Assert.Equal("no-quota-left", hits[0].Section.Id);
        Assert.Contains("<mark>quota</mark>", hits[0].ExcerptHtml, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Search_EncodesTheExcerpt()
    {
        var library = new GuideLibrary([Guide.Parse("t", "---\ntitle: T\nsummary: S\norder: 1\nupdated: 2026-01-01\n---\n## Part\n\nUse <b>care</b> with keys.\n")]);

        var hit = Assert.Single(library.Search("care", Snippets));

        Assert.DoesNotContain("<b>", hit.ExcerptHtml, StringComparison.Ordinal);
        Assert.Contains("&lt;b&gt;<mark>care</mark>", hit.ExcerptHtml, StringComparison.Ordinal);
    }
}
