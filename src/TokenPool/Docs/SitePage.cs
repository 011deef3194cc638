using System.Net;
using System.Text;

namespace TokenPool.Docs;

/// <summary>
/// The public site's one HTML template (home, docs, models): a header, an optional docs sidebar, the
/// content, a footer. Self-contained: one stylesheet and one small script under <c>/assets/docs/</c>.
/// </summary>
internal static class SitePage
{
    public const string StylesheetPath = "/assets/docs/site.css";

    public const string ScriptPath = "/assets/docs/site.js";

    /// <summary>Which item of the top navigation is current.</summary>
    internal enum Section
    {
        Home,
        Docs,
        Models,
    }

    public static string Render(string title, string description, Section current, string contentHtml, string? sidebarHtml = null)
    {
        var html = new StringBuilder(contentHtml.Length + 4096);
        html.Append($"""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{Encode(title)}</title>
            <meta name="description" content="{Encode(description)}">
            <link rel="stylesheet" href="{StylesheetPath}">
            <script src="{ScriptPath}" defer></script>
            </head>
            <body>
            <header class="site-header">
              <a class="brand" href="/"><span class="brand-mark">TP</span> TokenPool</a>
              <nav class="site-nav" aria-label="Site">
                <a href="/docs"{Current(current, Section.Docs)}>Docs</a>
                <a href="/models"{Current(current, Section.Models)}>Models</a>
                <a href="/console/api-keys" class="button">Console</a>
              </nav>
            </header>

            """);
        if (sidebarHtml is null)
        {
            html.Append("<main class=\"page\">\n").Append(contentHtml).Append("\n</main>\n");
        }
        else
        {
            html.Append("<div class=\"docs-layout\">\n<aside class=\"docs-sidebar\">\n").Append(sidebarHtml)
                .Append("\n</aside>\n<main class=\"docs-main\">\n").Append(contentHtml).Append("\n</main>\n</div>\n");
        }

        html.Append("""
            <footer class="site-footer">
              <p>TokenPool is an OpenAI-compatible API gateway. It is not OpenAI and not an official OpenAI reseller.</p>
            </footer>
            </body>
            </html>

            """);
        return html.ToString();
    }

    public static string Encode(string text) => WebUtility.HtmlEncode(text);

    private static string Current(Section current, Section item) => current == item ? " aria-current=\"page\"" : "";
}
