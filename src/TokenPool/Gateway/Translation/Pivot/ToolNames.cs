using System.Security.Cryptography;
using System.Text;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// Tool names as Chat Completions and Messages upstreams accept them: at most 64 characters of letters, digits,
/// <c>_</c> and <c>-</c>. A Responses <c>namespace</c> tool's children become <c>namespace__name</c> (as Codex's
/// own Chat adapter names them); any other character becomes <c>_</c>; a name still too long keeps its first 55
/// characters and gets <c>_</c> plus 8 hex characters of its SHA-256, so distinct names stay distinct.
/// </summary>
internal static class ToolNames
{
    public const int MaxLength = 64;

    public static string Flatten(string? ns, string name)
    {
        var joined = ns is null ? name : ns + "__" + name;
        var clean = IsClean(joined) ? joined : Sanitize(joined);
        if (clean.Length <= MaxLength)
        {
            return clean;
        }

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(joined)))[..8];
        return clean[..(MaxLength - 9)] + "_" + hash;
    }

    private static bool IsClean(string name)
    {
        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            {
                return false;
            }
        }

        return name.Length > 0;
    }

    private static string Sanitize(string name)
    {
        if (name.Length == 0)
        {
            return "tool";
        }

        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (!(char.IsAsciiLetterOrDigit(chars[i]) || chars[i] is '_' or '-'))
            {
                chars[i] = '_';
            }
        }

        return new string(chars);
    }
}
