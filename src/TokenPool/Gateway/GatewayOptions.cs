using System.ComponentModel.DataAnnotations;

namespace TokenPool.Gateway;

/// <summary>Settings of the API itself. Bound from the <c>Gateway</c> section.</summary>
internal sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>Largest request body accepted, in bytes (Codex resends the whole conversation every turn).</summary>
    [Range(1024, 512 * 1024 * 1024)]
    public int MaxRequestBodyBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>The Retry-After, in seconds, of a request refused because the server is stopping.</summary>
    [Range(1, 300)]
    public int DrainRetryAfterSeconds { get; set; } = 2;

    /// <summary>Largest non-streamed upstream answer relayed, in bytes.</summary>
    [Range(1024, 1024 * 1024 * 1024)]
    public int MaxResponseBodyBytes { get; set; } = 64 * 1024 * 1024;
}
