using Microsoft.Extensions.Options;

namespace TokenPool.Hosting;

/// <summary>The URLs TokenPool tells people to use: in error messages, the console's setup snippets and the docs.</summary>
internal sealed class PublicUrls(IOptions<HostsOptions> options)
{
    private readonly HostsOptions _hosts = options.Value;

    /// <summary>The recommended API base URL (no <c>/v1</c>: Codex appends <c>/responses</c> to it).</summary>
    public string ApiBaseUrl(HttpContext? context) =>
        _hosts.ApiHosts.Length > 0 ? $"{_hosts.PublicScheme}://{_hosts.ApiHosts[0]}" : Origin(context);

    /// <summary>Every API base URL, recommended first.</summary>
    public IReadOnlyList<string> ApiBaseUrls(HttpContext? context) =>
        _hosts.ApiHosts.Length > 0 ? [.. _hosts.ApiHosts.Select(h => $"{_hosts.PublicScheme}://{h}")] : [Origin(context)];

    public string WebUrl(HttpContext? context) =>
        _hosts.WebHost is { Length: > 0 } web ? $"{_hosts.PublicScheme}://{web}" : Origin(context);

    public string ApiKeysPage(HttpContext? context) => WebUrl(context) + "/console/api-keys";

    public string UsagePage(HttpContext? context) => WebUrl(context) + "/console/usage";

    public string ModelsPage(HttpContext? context) => WebUrl(context) + "/models";

    private static string Origin(HttpContext? context) =>
        context is null ? "http://127.0.0.1:8080" : $"{context.Request.Scheme}://{context.Request.Host.Value}";
}
