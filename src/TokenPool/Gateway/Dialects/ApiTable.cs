using TokenPool.Gateway.Dialects.Chat;
using TokenPool.Gateway.Dialects.Responses;
using TokenPool.Gateway.Translation;

namespace TokenPool.Gateway.Dialects;

/// <summary>
/// The one table of what the API serves: each wire API's dialect and path, the other API paths, and the roots they
/// are served under (<c>/v1</c>, and the root itself, since Codex appends <c>/responses</c> to a base URL given
/// without <c>/v1</c>). Endpoint mapping, host routing, error handling and the error messages all read it.
/// </summary>
internal static class ApiTable
{
    /// <summary>Every path is served under each of these.</summary>
    public static readonly IReadOnlyList<string> Roots = ["/v1", ""];

    /// <summary>The dialects clients may speak, in the order the messages list them.</summary>
    public static readonly IReadOnlyList<Dialect> Dialects = [ResponsesDialect.Instance, ChatDialect.Instance];

    /// <summary>The model list (<c>GET</c>), relative to a root.</summary>
    public const string ModelsPath = "models";

    /// <summary>The dialect of an API.</summary>
    public static Dialect For(ApiKind api) => api switch
    {
        ApiKind.Responses => ResponsesDialect.Instance,
        ApiKind.ChatCompletions => ChatDialect.Instance,
        _ => throw new NotSupportedException($"TokenPool has no dialect for {api} yet."),
    };

    /// <summary>The dialect of an API, or null when TokenPool does not speak it (yet).</summary>
    public static Dialect? Find(ApiKind api) => Dialects.FirstOrDefault(d => d.Api == api);

    /// <summary>The dialect whose path this is (under any root), or null.</summary>
    public static Dialect? ForPath(PathString path)
    {
        var relative = Relative(path);
        return relative is null ? null : Dialects.FirstOrDefault(d => string.Equals(d.Path, relative, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Whether a path is one of the API's own: anything under <c>/v1</c>, or a dialect's path or the model list at the root.</summary>
    public static bool IsApiPath(PathString path)
    {
        if (path.StartsWithSegments("/v1"))
        {
            return true;
        }

        var relative = (path.Value ?? "").Trim('/');
        return string.Equals(relative, ModelsPath, StringComparison.OrdinalIgnoreCase) || Dialects.Any(d => string.Equals(d.Path, relative, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Whether a path is a known API path (any root) whatever the method: a wrong method there gets 405, not 404.</summary>
    public static bool IsKnownPath(PathString path)
    {
        var relative = Relative(path);
        return relative is not null && (string.Equals(relative, ModelsPath, StringComparison.OrdinalIgnoreCase) || Dialects.Any(d => string.Equals(d.Path, relative, StringComparison.OrdinalIgnoreCase)));
    }

    /// <summary>"POST /v1/responses, POST /v1/chat/completions and GET /v1/models", for error messages.</summary>
    public static string Served { get; } =
        string.Join(", ", Dialects.Select(d => $"POST /v1/{d.Path}")) + $" and GET /v1/{ModelsPath}";

    /// <summary>The path without its root and slashes (<c>chat/completions</c>), or null when it is under no root.</summary>
    private static string? Relative(PathString path)
    {
        var value = (path.Value ?? "").TrimEnd('/');
        foreach (var root in Roots)
        {
            if (root.Length == 0)
            {
                continue;
            }

            if (value.StartsWith(root + "/", StringComparison.OrdinalIgnoreCase))
            {
                return value[(root.Length + 1)..];
            }
        }

        return value.StartsWith('/') ? value[1..] : null;
    }
}
