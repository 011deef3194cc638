using System.Globalization;
using System.Text;
using TokenPool.Billing;
using TokenPool.Hosting;
using TokenPool.Upstreams;

namespace TokenPool.Docs;

/// <summary>The public website: home page, docs (guides, search), the models page and the site's assets.</summary>
internal static class DocsEndpoints
{
    public static IServiceCollection AddDocs(this IServiceCollection services)
    {
        services.AddSingleton(_ => GuideLibrary.LoadEmbedded());
        return services;
    }

    public static IEndpointRouteBuilder MapDocs(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", Home);
        app.MapGet("/docs", DocsIndex);
        app.MapGet("/docs/search", Search);
        app.MapGet("/docs/{slug}", GuidePage);
        app.MapGet(SitePage.StylesheetPath, context => Asset(context, "site/site.css", "text/css; charset=utf-8"));
        app.MapGet(SitePage.ScriptPath, context => Asset(context, "site/site.js", "text/javascript; charset=utf-8"));
        return app;
    }

    /// <summary>The snippets' addresses for this request: the deployment's hosts, or the address the request came to.</summary>
    public static GuideSnippets Snippets(HttpContext context)
    {
        var urls = context.RequestServices.GetRequiredService<PublicUrls>();
        return new GuideSnippets(urls.ApiBaseUrls(context), urls.WebUrl(context));
    }

    private static Task Home(HttpContext context)
    {
        var library = context.RequestServices.GetRequiredService<GuideLibrary>();
        var snippets = Snippets(context);
        var cards = new StringBuilder();
        foreach (var guide in library.Guides)
        {
            cards.Append($"""<a class="card" href="/docs/{guide.Slug}"><h3>{SitePage.Encode(guide.Title)}</h3><p>{SitePage.Encode(guide.Summary)}</p></a>""").Append('\n');
        }

        var content = $"""
            <section class="hero">
              <h1>One API key for your coding agents</h1>
              <p class="lead">TokenPool is an OpenAI-compatible API gateway for Codex CLI, Codex App, OpenCode and CC Switch.
              Create a key in the console, point your tool at TokenPool's base_url, and pay only for the tokens you use.</p>
              <div class="actions">
                <a class="button" href="/console/api-keys">Get an API key</a>
                <a class="button secondary" href="/docs">Read the docs</a>
                <a class="button secondary" href="/models">Models and prices</a>
              </div>
            </section>
            <h2>Two values to configure</h2>
            <table>
              <thead><tr><th>Value</th><th>What it is</th></tr></thead>
              <tbody>
                <tr><td>API key</td><td>Your personal credential, created at <a href="/console/api-keys">{SitePage.Encode(snippets.KeysPage)}</a>. It is not your password.</td></tr>
                <tr><td><code>base_url</code></td><td>The API endpoint: <code>{SitePage.Encode(snippets.ApiBaseUrl + "/v1")}</code>. The website is not an API endpoint.</td></tr>
              </tbody>
            </table>
            <h2>Guides</h2>
            <div class="cards">
            {cards}</div>
            """;
        return WriteHtml(context, SitePage.Render("TokenPool: an OpenAI-compatible API for coding agents",
            "TokenPool is an OpenAI-compatible API gateway for Codex, OpenCode and CC Switch.", SitePage.Section.Home, content));
    }

    private static Task DocsIndex(HttpContext context)
    {
        var library = context.RequestServices.GetRequiredService<GuideLibrary>();
        var list = new StringBuilder("<div class=\"cards\">\n");
        foreach (var guide in library.Guides)
        {
            list.Append($"""<a class="card" href="/docs/{guide.Slug}"><h3>{SitePage.Encode(guide.Title)}</h3><p>{SitePage.Encode(guide.Summary)}</p></a>""").Append('\n');
        }

        list.Append("</div>");
        var content = $"""
            <h1>TokenPool docs</h1>
            <p>Short guides by topic. Most tools need two values: an API key and a <code>base_url</code>.</p>
            {list}
            """;
        return WriteHtml(context, SitePage.Render("TokenPool docs", "Guides for TokenPool: API keys, base_url, Codex, OpenCode, CC Switch and troubleshooting.",
            SitePage.Section.Docs, content, Sidebar(library, null, null)));
    }

    private static Task GuidePage(HttpContext context, string slug)
    {
        var library = context.RequestServices.GetRequiredService<GuideLibrary>();
        if (library.Find(slug) is not { } guide)
        {
            context.Response.StatusCode = 404;
            var missing = $"""
                <h1>No such page</h1>
                <p>There is no guide at <code>/docs/{SitePage.Encode(slug)}</code>. Pick one from the list, or search the docs.</p>
                """;
            return WriteHtml(context, SitePage.Render("Page not found · TokenPool docs", "Not found", SitePage.Section.Docs, missing, Sidebar(library, null, null)));
        }

        var rendered = library.Render(guide, Snippets(context));
        var index = library.Guides.ToList().IndexOf(guide);
        var previous = index > 0 ? library.Guides[index - 1] : null;
        var next = index < library.Guides.Count - 1 ? library.Guides[index + 1] : null;
        var content = $"""
            <article class="guide">
            <h1>{SitePage.Encode(guide.Title)}</h1>
            <p class="updated">Last updated {guide.Updated.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}</p>
            {rendered.Html}
            </article>
            <nav class="pager" aria-label="Guides">
              <span>{(previous is null ? "" : $"<a href=\"/docs/{previous.Slug}\">← {SitePage.Encode(previous.Title)}</a>")}</span>
              <span>{(next is null ? "" : $"<a href=\"/docs/{next.Slug}\">{SitePage.Encode(next.Title)} →</a>")}</span>
            </nav>
            """;
        return WriteHtml(context, SitePage.Render($"{guide.Title} · TokenPool docs", guide.Summary, SitePage.Section.Docs, content, Sidebar(library, guide, null)));
    }

    private static Task Search(HttpContext context)
    {
        var library = context.RequestServices.GetRequiredService<GuideLibrary>();
        var query = context.Request.Query["q"].ToString().Trim();
        if (query.Length > 200)
        {
            query = query[..200];
        }

        var content = new StringBuilder($"<h1>Search the docs</h1>\n");
        if (query.Length > 0)
        {
            var hits = library.Search(query, Snippets(context));
            content.Append($"<p>{hits.Count} result{(hits.Count == 1 ? "" : "s")} for <strong>{SitePage.Encode(query)}</strong>.</p>\n");
            if (hits.Count == 0)
            {
                content.Append("<p>Try fewer or different words, or browse the guides on the left.</p>\n");
            }

            content.Append("<ol class=\"results\">\n");
            foreach (var hit in hits)
            {
                var anchor = hit.Section.Id.Length > 0 ? "#" + hit.Section.Id : "";
                var heading = hit.Section.Id.Length > 0 ? hit.Section.Heading : hit.Guide.Title;
                content.Append($"""<li><a href="/docs/{hit.Guide.Slug}{anchor}">{SitePage.Encode(heading)}</a> <span class="where">in {SitePage.Encode(hit.Guide.Title)}</span><br>{hit.ExcerptHtml}</li>""").Append('\n');
            }

            content.Append("</ol>\n");
        }

        return WriteHtml(context, SitePage.Render($"Search: {query} · TokenPool docs", "Search the TokenPool docs", SitePage.Section.Docs, content.ToString(), Sidebar(library, null, query)));
    }

    /// <summary><c>/models</c>: the models a key can use now, with prices read live from the catalogue.</summary>
    public static Task ModelsPage(HttpContext context)
    {
        var catalogue = context.RequestServices.GetRequiredService<PriceCatalog>().All;
        var routes = context.RequestServices.GetRequiredService<UpstreamPool>().Snapshot.Routes;
        var snippets = Snippets(context);
        var rows = new StringBuilder();
        var models = catalogue.Values.Where(p => routes.ContainsKey(p.Model)).OrderBy(p => p.Model, StringComparer.Ordinal).ToList();
        foreach (var price in models)
        {
            rows.Append($"""
                <tr><td><code>{SitePage.Encode(price.Model)}</code></td><td>{SitePage.Encode(price.Description ?? "")}</td><td class="num">{Money.Format(price.InputMicrosPerMillion)}</td><td class="num">{Money.Format(price.CachedInputMicrosPerMillion)}</td><td class="num">{Money.Format(price.OutputMicrosPerMillion)}</td><td class="num">{(price.ContextWindow is { } window ? window.ToString("N0", CultureInfo.InvariantCulture) : "")}</td></tr>
                """).Append('\n');
        }

        var table = models.Count == 0
            ? "<p>No model is available right now. The operator has not configured any yet.</p>"
            : $"""
                <table>
                  <thead><tr><th>Model</th><th>About</th><th class="num">Input</th><th class="num">Cached input</th><th class="num">Output</th><th class="num">Context window</th></tr></thead>
                  <tbody>
                {rows}  </tbody>
                </table>
                """;
        var content = $"""
            <h1>Models and prices</h1>
            <p>Set one of these names as <code>model</code> in your tool. Prices are in US dollars per million tokens;
            reasoning tokens count as output. This list is read live from TokenPool's model catalogue.</p>
            {table}
            <p>Your tool can list the models your key may use with <code>GET {SitePage.Encode(snippets.ApiBaseUrl)}/v1/models</code>
            (send the key as <code>Authorization: Bearer &lt;key&gt;</code>). See <a href="/docs/troubleshooting#model-not-found">model not found</a> if a name is refused.</p>
            """;
        return WriteHtml(context, SitePage.Render("Models and prices · TokenPool", "The models TokenPool serves and their prices.", SitePage.Section.Models, content));
    }

    private static string Sidebar(GuideLibrary library, Guide? current, string? query)
    {
        var html = new StringBuilder();
        html.Append($"""
            <form class="search" action="/docs/search" method="get" role="search">
              <input type="search" name="q" value="{SitePage.Encode(query ?? "")}" placeholder="Search the docs" aria-label="Search the docs">
              <button type="submit">Search</button>
            </form>
            <ol>
            """);
        foreach (var guide in library.Guides)
        {
            var selected = guide == current ? " aria-current=\"page\"" : "";
            html.Append($"""<li><a href="/docs/{guide.Slug}"{selected}>{SitePage.Encode(guide.Title)}</a></li>""").Append('\n');
        }

        html.Append("</ol>\n<p><a href=\"/models\">Models and prices</a></p>");
        return html.ToString();
    }

    private static async Task WriteHtml(HttpContext context, string html)
    {
        context.Response.ContentType = "text/html; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.WriteAsync(html, context.RequestAborted);
    }

    private static async Task Asset(HttpContext context, string resource, string contentType)
    {
        await using var stream = typeof(DocsEndpoints).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The embedded asset {resource} is missing.");
        context.Response.ContentType = contentType;
        context.Response.Headers.CacheControl = "public, max-age=3600";
        await stream.CopyToAsync(context.Response.Body, context.RequestAborted);
    }
}
