namespace TokenPool.Hosting;

/// <summary>
/// The deployment's public names. Bound from the <c>Hosts</c> section. With none set (a laptop), one
/// local port serves the API, the console and the docs, and links use the address the request came to.
/// </summary>
internal sealed class HostsOptions
{
    public const string Section = "Hosts";

    /// <summary>Hosts that serve the API, the recommended one first, e.g. <c>api.clawto.link</c>, <c>api.tokenpool.dev</c>.</summary>
    public string[] ApiHosts { get; set; } = [];

    /// <summary>The host of the website, console and docs, e.g. <c>tokenpool.dev</c>.</summary>
    public string? WebHost { get; set; }

    /// <summary>A host that serves only static files, e.g. <c>cdn.tokenpool.dev</c>.</summary>
    public string? AssetsHost { get; set; }

    /// <summary>Scheme of the public URLs built from the hosts above.</summary>
    public string PublicScheme { get; set; } = "https";
}
