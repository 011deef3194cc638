using Microsoft.Extensions.Options;
using TokenPool.Docs;
using TokenPool.Gateway;
using TokenPool.Gateway.Dialects;

namespace TokenPool.Hosting;

/// <summary>Which part of the deployment a request's host names.</summary>
internal enum HostRole
{
    /// <summary>No hosts configured, or a host not configured (a health check by address): everything is served.</summary>
    Any,
    Api,
    Web,
    Assets,
}

/// <summary>
/// Sends each request to the part of TokenPool its host serves. API hosts answer the API (web pages
/// redirect to the web host); the web host answers the website, console and docs, and an API call sent
/// to it (the "website as base_url" mistake) gets a JSON error in OpenAI's envelope naming the right
/// base_url, never an HTML page. The same holds on a single local port for the console used as base_url.
/// </summary>
internal sealed class HostRouting(RequestDelegate next, IOptions<HostsOptions> options, PublicUrls urls)
{
    /// <summary>How the paths of API calls end, whatever base_url they were sent to: TokenPool's own, and other OpenAI-style ones.</summary>
    private static readonly string[] ApiEndings =
        [.. ApiTable.Dialects.Select(d => "/" + d.Path), "/" + ApiTable.ModelsPath, "/completions", "/embeddings"];

    private readonly HostsOptions _hosts = options.Value;

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        var path = request.Path;
        if (path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz"))
        {
            return next(context);
        }

        switch (Classify(request.Host))
        {
            case HostRole.Api:
                if (IsApiPath(path))
                {
                    return next(context);
                }

                if (string.IsNullOrEmpty(_hosts.WebHost))
                {
                    // No separate website: the API host serves it too.
                    return next(context);
                }

                if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
                {
                    context.Response.Redirect(urls.WebUrl(context) + path + request.QueryString);
                    return Task.CompletedTask;
                }

                return GatewayErrors.UnknownPath(request.Method, path.Value ?? "/").WriteAsync(context);

            case HostRole.Assets:
                if (LooksLikeApiCall(request))
                {
                    return WrongBaseUrl(context);
                }

                if (!path.StartsWithSegments("/assets") && !string.IsNullOrEmpty(_hosts.WebHost) && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)))
                {
                    context.Response.Redirect(urls.WebUrl(context) + path + request.QueryString);
                    return Task.CompletedTask;
                }

                return next(context);

            case HostRole.Web:
                if (LooksLikeApiCall(request))
                {
                    return WrongBaseUrl(context);
                }

                if (IsModelsPage(request))
                {
                    return DocsEndpoints.ModelsPage(context);
                }

                return next(context);

            default:
                if (path.StartsWithSegments("/console") && LooksLikeApiCall(request))
                {
                    return WrongBaseUrl(context);
                }

                if (IsModelsPage(request) && IsBrowserRequest(request))
                {
                    return DocsEndpoints.ModelsPage(context);
                }

                return next(context);
        }
    }

    public HostRole Classify(HostString host)
    {
        if (_hosts.ApiHosts.Length == 0 && string.IsNullOrEmpty(_hosts.WebHost) && string.IsNullOrEmpty(_hosts.AssetsHost))
        {
            return HostRole.Any;
        }

        if (_hosts.ApiHosts.Any(h => Matches(h, host)))
        {
            return HostRole.Api;
        }

        if (_hosts.WebHost is { Length: > 0 } web && Matches(web, host))
        {
            return HostRole.Web;
        }

        return _hosts.AssetsHost is { Length: > 0 } assets && Matches(assets, host) ? HostRole.Assets : HostRole.Any;
    }

    /// <summary>The API's own paths: everything under <c>/v1</c> and the root aliases Codex uses (see <see cref="ApiTable"/>).</summary>
    public static bool IsApiPath(PathString path) => ApiTable.IsApiPath(path);

    private static bool LooksLikeApiCall(HttpRequest request)
    {
        var path = request.Path.Value ?? "/";
        if (request.Path.StartsWithSegments("/v1") || path.Contains("/v1/", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        var trimmed = path.TrimEnd('/');
        if (ApiEndings.Any(e => trimmed.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
        {
            // A person opening a models page in a browser is not an API call.
            return !(trimmed.EndsWith("/models", StringComparison.OrdinalIgnoreCase) && IsBrowserRequest(request));
        }

        // Tools send the key as a bearer token or in an api-key header; the website uses cookies.
        return request.Headers.Authorization.Any(v => v?.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) == true)
            || request.Headers.ContainsKey("api-key")
            || request.Headers.ContainsKey("x-api-key");
    }

    private static bool IsModelsPage(HttpRequest request) =>
        (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)) && request.Path.Equals("/models", StringComparison.OrdinalIgnoreCase);

    /// <summary>A browser asking for a page: accepts HTML and sends no API key.</summary>
    private static bool IsBrowserRequest(HttpRequest request) =>
        request.Headers.Accept.Any(a => a?.Contains("text/html", StringComparison.OrdinalIgnoreCase) == true)
        && request.Headers.Authorization.Count == 0
        && !request.Headers.ContainsKey("api-key");

    private Task WrongBaseUrl(HttpContext context)
    {
        var request = context.Request;
        var console = request.Path.StartsWithSegments("/console");
        return GatewayErrors.WrongBaseUrl(urls.WebUrl(context), request.Method, request.Path.Value ?? "/", console, urls.ApiBaseUrls(context)).WriteAsync(context);
    }

    private static bool Matches(string configured, HostString host) =>
        configured.Contains(':', StringComparison.Ordinal)
            ? string.Equals(configured, host.Value, StringComparison.OrdinalIgnoreCase)
            : string.Equals(configured, host.Host, StringComparison.OrdinalIgnoreCase);
}
