using System.Globalization;

namespace TokenPool.Docs;

/// <summary>One guide of the docs site: a Markdown file kept in the repository with a small front matter.</summary>
/// <param name="Slug">Its address under <c>/docs/</c>, from the file name.</param>
/// <param name="Title">The guide's title.</param>
/// <param name="Summary">One sentence for the index and search results.</param>
/// <param name="Order">Position in the navigation.</param>
/// <param name="Updated">The "last updated" date shown on the page.</param>
/// <param name="Source">The Markdown body, placeholders not yet expanded.</param>
internal sealed record Guide(string Slug, string Title, string Summary, int Order, DateOnly Updated, string Source)
{
    /// <summary>
    /// Reads a guide: a front matter between <c>---</c> lines with <c>title</c>, <c>summary</c>,
    /// <c>order</c> and <c>updated</c> (yyyy-MM-dd), then Markdown.
    /// </summary>
    public static Guide Parse(string slug, string text)
    {
        text = text.Replace("\r\n", "\n", StringComparison.Ordinal);
        if (!text.StartsWith("---\n", StringComparison.Ordinal))
        {
            throw new FormatException($"The guide {slug} has no front matter.");
        }

        var end = text.IndexOf("\n---\n", 4, StringComparison.Ordinal);
        if (end < 0)
        {
            throw new FormatException($"The guide {slug} has an unterminated front matter.");
        }

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text[4..end].Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                fields[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        string Field(string name) => fields.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new FormatException($"The guide {slug} has no \"{name}\" in its front matter.");

        return new Guide(
            slug,
            Field("title"),
            Field("summary"),
            int.Parse(Field("order"), CultureInfo.InvariantCulture),
            DateOnly.ParseExact(Field("updated"), "yyyy-MM-dd", CultureInfo.InvariantCulture),
            text[(end + 5)..]);
    }
}
