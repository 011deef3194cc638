using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Markdig;
using Markdig.Renderers.Html;
using Markdig.Syntax;

namespace TokenPool.Docs;

/// <summary>A guide rendered for one deployment: its HTML and its sections (for search).</summary>
internal sealed record RenderedGuide(Guide Guide, string Html, IReadOnlyList<GuideSection> Sections);

/// <summary>A part of a guide under one heading; <see cref="Id"/> is the heading's anchor.</summary>
internal sealed record GuideSection(string Id, string Heading, string Text);

/// <summary>A search result: a section and a short excerpt around the first match.</summary>
internal sealed record SearchHit(Guide Guide, GuideSection Section, string ExcerptHtml, int Score);

/// <summary>
/// The docs' guides, read from the Markdown files embedded in the assembly (<c>Docs/Guides/*.md</c>).
/// Pages are rendered on first use for each set of addresses and kept.
/// </summary>
internal sealed class GuideLibrary
{
    private const int MaxCachedRenderings = 64;

    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder()
        .UseAdvancedExtensions()
        .DisableHtml()
        .Build();

    private readonly ConcurrentDictionary<string, RenderedGuide> _rendered = new(StringComparer.Ordinal);

    public GuideLibrary(IEnumerable<Guide> guides)
    {
        Guides = [.. guides.OrderBy(g => g.Order).ThenBy(g => g.Slug, StringComparer.Ordinal)];
    }

    public IReadOnlyList<Guide> Guides { get; }

    public Guide? Find(string slug) => Guides.FirstOrDefault(g => string.Equals(g.Slug, slug, StringComparison.Ordinal));

    /// <summary>The guides shipped with TokenPool.</summary>
    public static GuideLibrary LoadEmbedded()
    {
        var assembly = typeof(GuideLibrary).Assembly;
        var guides = new List<Guide>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("guides/", StringComparison.Ordinal) && n.EndsWith(".md", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream, Encoding.UTF8);
            guides.Add(Guide.Parse(name["guides/".Length..^3], reader.ReadToEnd()));
        }

        return new GuideLibrary(guides);
    }

    public RenderedGuide Render(Guide guide, GuideSnippets snippets)
    {
        var cacheKey = guide.Slug + "|" + snippets.CacheKey;
        if (_rendered.TryGetValue(cacheKey, out var cached))
        {
            return cached;
        }

        if (_rendered.Count >= MaxCachedRenderings)
        {
            _rendered.Clear();
        }

        var markdown = snippets.Expand(guide.Source);
        var document = Markdown.Parse(markdown, Pipeline);
        var html = document.ToHtml(Pipeline);
        var rendered = new RenderedGuide(guide, html, Sections(guide, markdown, document));
        _rendered[cacheKey] = rendered;
        return rendered;
    }

    /// <summary>
    /// Sections whose heading or text contain the query's words, best first. A section must contain every
    /// word; words in the guide's title or the section's heading count more.
    /// </summary>
    public IReadOnlyList<SearchHit> Search(string query, GuideSnippets snippets, int limit = 20)
    {
        var terms = query.ToLowerInvariant()
            .Split([' ', '\t', ',', ';'], StringSplitOptions.RemoveEmptyEntries)
            .Where(t => t.Length >= 2)
            .Distinct(StringComparer.Ordinal)
            .Take(8)
            .ToList();
        if (terms.Count == 0)
        {
            return [];
        }

        var hits = new List<SearchHit>();
        foreach (var guide in Guides)
        {
            foreach (var section in Render(guide, snippets).Sections)
            {
                var score = 0;
                var all = true;
                foreach (var term in terms)
                {
                    var inText = Count(section.Text, term);
                    var inHeading = Count(section.Heading, term);
                    var inTitle = Count(guide.Title, term);
                    if (inText + inHeading + inTitle == 0)
                    {
                        all = false;
                        break;
                    }

                    score += inText + (5 * inHeading) + (3 * inTitle);
                }

                if (all)
                {
                    hits.Add(new SearchHit(guide, section, Excerpt(section.Text, terms), score));
                }
            }
        }

        return [.. hits.OrderByDescending(h => h.Score).ThenBy(h => h.Guide.Order).Take(limit)];
    }

    private static List<GuideSection> Sections(Guide guide, string markdown, MarkdownDocument document)
    {
        var sections = new List<GuideSection>();
        var id = "";
        var heading = guide.Title;
        var text = new StringBuilder();
        foreach (var block in document)
        {
            if (block is HeadingBlock { Level: <= 3 } h)
            {
                if (text.Length > 0 || sections.Count == 0)
                {
                    sections.Add(new GuideSection(id, heading, Plain(text)));
                }

                id = h.GetAttributes().Id ?? "";
                heading = Plain(new StringBuilder(markdown.Substring(h.Span.Start, h.Span.Length).TrimStart('#', ' ')));
                text.Clear();
                continue;
            }

            text.Append(markdown, block.Span.Start, Math.Min(block.Span.Length, markdown.Length - block.Span.Start)).Append('\n');
        }

        sections.Add(new GuideSection(id, heading, Plain(text)));
        return sections;
    }

    private static string Plain(StringBuilder markdown)
    {
        var text = markdown.ToString();
        foreach (var mark in new[] { "```", "`", "**", "|", "> ", "#" })
        {
            text = text.Replace(mark, " ", StringComparison.Ordinal);
        }

        return string.Join(' ', text.Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries));
    }

    private static int Count(string text, string term)
    {
        var count = 0;
        var at = 0;
        while ((at = text.IndexOf(term, at, StringComparison.OrdinalIgnoreCase)) >= 0 && count < 50)
        {
            count++;
            at += term.Length;
        }

        return count;
    }

    private static string Excerpt(string text, IReadOnlyList<string> terms)
    {
        var first = terms.Select(t => text.IndexOf(t, StringComparison.OrdinalIgnoreCase)).Where(i => i >= 0).DefaultIfEmpty(0).Min();
        var start = Math.Max(0, first - 80);
        var end = Math.Min(text.Length, first + 160);
        var excerpt = (start > 0 ? "…" : "") + text[start..end] + (end < text.Length ? "…" : "");
        var marked = new bool[excerpt.Length];
        foreach (var term in terms)
        {
            var at = 0;
            int found;
            while ((found = excerpt.IndexOf(term, at, StringComparison.OrdinalIgnoreCase)) >= 0)
            {
                Array.Fill(marked, true, found, term.Length);
                at = found + term.Length;
            }
        }

        var html = new StringBuilder();
        for (var i = 0; i < excerpt.Length;)
        {
            var j = i;
            while (j < excerpt.Length && marked[j] == marked[i])
            {
                j++;
            }

            var part = WebUtility.HtmlEncode(excerpt[i..j]);
            html.Append(marked[i] ? $"<mark>{part}</mark>" : part);
            i = j;
        }

        return html.ToString();
    }
}
