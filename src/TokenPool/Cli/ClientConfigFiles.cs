using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenPool.Cli;

/// <summary>One <c>key = value</c> of a TOML file, with the table it is in and its line number.</summary>
internal sealed record TomlEntry(string Table, string Key, string Value, int Line);

/// <summary>
/// Just enough TOML for <c>~/.codex/config.toml</c>: tables, and <c>key = value</c> lines with strings,
/// booleans and numbers. Arrays and inline tables are kept as their raw text.
/// </summary>
internal static class SimpleToml
{
    public static List<TomlEntry> Parse(string text)
    {
        var entries = new List<TomlEntry>();
        var table = "";
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = StripComment(lines[i]).Trim();
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith('[') && line.EndsWith(']'))
            {
                table = line.Trim('[', ']', ' ').Replace("\"", "", StringComparison.Ordinal);
                continue;
            }

            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                continue;
            }

            var key = line[..equals].Trim().Trim('"');
            var value = line[(equals + 1)..].Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0])
            {
                value = value[1..^1];
                if (line[(equals + 1)..].Trim()[0] == '"')
                {
                    value = value.Replace("\\\"", "\"", StringComparison.Ordinal).Replace("\\\\", "\\", StringComparison.Ordinal);
                }
            }

            entries.Add(new TomlEntry(table, key, value, i + 1));
        }

        return entries;
    }

    private static string StripComment(string line)
    {
        var quote = '\0';
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote != '\0')
            {
                if (c == '\\' && quote == '"')
                {
                    i++;
                }
                else if (c == quote)
                {
                    quote = '\0';
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
            }
            else if (c == '#')
            {
                return line[..i];
            }
        }

        return line;
    }
}

/// <summary>Reads an <c>opencode.json</c> (comments and trailing commas allowed, as OpenCode allows them).</summary>
internal static class OpenCodeConfigFile
{
    public static JsonObject? Parse(string text) =>
        JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject;
}
