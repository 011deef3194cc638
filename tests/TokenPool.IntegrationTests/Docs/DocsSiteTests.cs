using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using TokenPool.Billing;
using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Docs;

/// <summary>The public site on a single local port: home page, guides, search and the live models page.</summary>
public sealed class DocsSiteTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public static TheoryData<string> Slugs => [.. GuideLibrary.LoadEmbedded().Guides.Select(g => g.Slug)];

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private string Base => _gateway.Address.ToString().TrimEnd('/');

    private async Task<(HttpStatusCode Status, string ContentType, string Body)> GetPageAsync(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/html,application/xhtml+xml");
        using var response = await _gateway.Client.SendAsync(request);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType ?? "", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task HomePage_IntroducesTheProductAndLinksToConsoleAndDocs()
    {
        var (status, type, body) = await GetPageAsync("/");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text/html", type);
        Assert.Contains("OpenAI-compatible API gateway", body, StringComparison.Ordinal);
        Assert.Contains("href=\"/console/api-keys\"", body, StringComparison.Ordinal);
        Assert.Contains("href=\"/docs\"", body, StringComparison.Ordinal);
        Assert.Contains(WebUtility.HtmlEncode(Base + "/v1"), body, StringComparison.Ordinal);
    }

    [Fact]
    public void TheDocs_HaveEveryGuideTheIssueAsksFor()
    {
        var slugs = GuideLibrary.LoadEmbedded().Guides.Select(g => g.Slug).ToHashSet();

        Assert.Superset(new HashSet<string> { "api-keys", "openai-compatible-api", "base-url", "codex-cli", "codex-app", "opencode", "cc-switch", "troubleshooting" }, slugs);
    }

    [Theory]
    [MemberData(nameof(Slugs))]
    public async Task EveryGuide_RendersWithNavigationLastUpdatedAndNoLeftoverPlaceholders(string slug)
    {
        var (status, _, body) = await GetPageAsync("/docs/" + slug);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("Last updated 20", body, StringComparison.Ordinal);
        Assert.DoesNotContain("{{", body, StringComparison.Ordinal);
        Assert.Contains($"href=\"/docs/{slug}\" aria-current=\"page\"", body, StringComparison.Ordinal);
        Assert.Contains("action=\"/docs/search\"", body, StringComparison.Ordinal);
        Assert.Contains(SitePage.ScriptPath, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CodexGuide_ShowsTheConsoleSnippetsForThisDeployment()
    {
        var setup = new ClientSetup(Base, ClientSetup.KeyPlaceholder, "gpt-5.5", "gpt-5.4-nano");

        var (_, _, body) = await GetPageAsync("/docs/codex-cli");

        Assert.Contains(WebUtility.HtmlEncode(setup.CodexConfigToml()), body, StringComparison.Ordinal);
        Assert.Contains(WebUtility.HtmlEncode(setup.CodexAuthJson()), body, StringComparison.Ordinal);
        Assert.Contains("disable_response_storage", body, StringComparison.Ordinal);
        Assert.Contains("<code>wire_api = &quot;chat&quot;</code> is no longer supported", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenCodeGuide_ShowsTheOpenCodeJsonFromClientSetup()
    {
        var setup = new ClientSetup(Base, ClientSetup.KeyPlaceholder, "gpt-5.5", "gpt-5.4-nano");

        var (_, _, body) = await GetPageAsync("/docs/opencode");

        Assert.Contains(WebUtility.HtmlEncode(setup.OpenCodeJson()), body, StringComparison.Ordinal);
        Assert.Contains(WebUtility.HtmlEncode(setup.OpenCodeCompatibleJson()), body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DocsSearch_FindsTheTroubleshootingEntryForAnIncompleteKey()
    {
        var (status, _, body) = await GetPageAsync("/docs/search?q=looks+incomplete");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("href=\"/docs/troubleshooting#the-key-looks-incomplete\"", body, StringComparison.Ordinal);
        Assert.Contains("<mark>", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DocsSearch_WithNoMatch_SaysSo()
    {
        var (_, _, body) = await GetPageAsync("/docs/search?q=zebrafish");

        Assert.Contains("0 results", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownGuide_IsAnHtml404()
    {
        var (status, type, _) = await GetPageAsync("/docs/no-such-guide");

        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("text/html", type);
    }

    [Fact]
    public async Task SiteScript_AddsCopyButtonsToCodeBlocks()
    {
        var script = await _gateway.Client.GetStringAsync(SitePage.ScriptPath);
        var css = await _gateway.Client.GetStringAsync(SitePage.StylesheetPath);

        Assert.Contains("navigator.clipboard.writeText", script, StringComparison.Ordinal);
        Assert.Contains(".copy", css, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ModelsPage_ListsPricesReadLiveFromTheCatalogue()
    {
        var (status, _, before) = await GetPageAsync("/models");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("<code>gpt-5.5</code>", before, StringComparison.Ordinal);
        Assert.Contains("$1.25", before, StringComparison.Ordinal);

        var catalogue = _gateway.Get<PriceCatalog>();
        var price = catalogue.Find("gpt-5.5")!;
        await catalogue.SaveAsync(new ModelPrice
        {
            Model = "gpt-5.5",
            Description = price.Description,
            InputMicrosPerMillion = Money.FromDollars(3.21m),
            CachedInputMicrosPerMillion = price.CachedInputMicrosPerMillion,
            OutputMicrosPerMillion = price.OutputMicrosPerMillion,
            ReserveOutputTokens = price.ReserveOutputTokens,
            ContextWindow = price.ContextWindow,
        }, CancellationToken.None);
        await catalogue.LoadAsync(CancellationToken.None);

        var (_, _, after) = await GetPageAsync("/models");
        Assert.Contains("$3.21", after, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ModelsPath_WithAKey_IsStillTheApiList()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);

        using var response = await client.GetAsync("/models");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("list", json.RootElement.GetProperty("object").GetString());
    }

    [Fact]
    public async Task ModelsPath_FromAToolWithoutAKey_GetsJsonNotHtml()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/models");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

        using var response = await _gateway.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }
}
