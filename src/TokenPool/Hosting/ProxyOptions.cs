namespace TokenPool.Hosting;

/// <summary>
/// The reverse proxies (TLS terminators, load balancers) whose <c>X-Forwarded-For</c> and
/// <c>X-Forwarded-Proto</c> headers TokenPool believes. Bound from the <c>Proxy</c> section. A proxy on the
/// same machine (loopback) is always trusted; name any other by address or network. Behind a trusted proxy,
/// sign-in throttling counts the real client's address and console cookies are marked Secure when the
/// client used HTTPS.
/// </summary>
internal sealed class ProxyOptions
{
    public const string Section = "Proxy";

    /// <summary>Addresses of trusted proxies, e.g. <c>10.0.0.5</c>.</summary>
    public string[] KnownProxies { get; set; } = [];

    /// <summary>Networks of trusted proxies in CIDR notation, e.g. <c>10.0.0.0/8</c>.</summary>
    public string[] KnownNetworks { get; set; } = [];
}
