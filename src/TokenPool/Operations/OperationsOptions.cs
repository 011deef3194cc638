using System.ComponentModel.DataAnnotations;

namespace TokenPool.Operations;

/// <summary>
/// The operations surface: Prometheus metrics at <c>/metrics</c> and OpenTelemetry traces (section <c>Operations</c>).
/// </summary>
internal sealed class OperationsOptions
{
    public const string Section = "Operations";

    /// <summary>Serve <c>/metrics</c> at all. On by default.</summary>
    public bool MetricsEnabled { get; set; } = true;

    /// <summary>
    /// Networks (CIDR, e.g. <c>10.0.0.0/8</c>) whose clients may read <c>/metrics</c> without a token, besides
    /// loopback (unless <see cref="MetricsAllowLoopback"/> is off). The address is the client's as TokenPool sees it:
    /// behind a trusted reverse proxy, the one in <c>X-Forwarded-For</c>.
    /// </summary>
    public List<string> MetricsAllowedNetworks { get; set; } = [];

    /// <summary>When set, <c>/metrics</c> also answers any client that sends <c>Authorization: Bearer &lt;token&gt;</c>.</summary>
    public string? MetricsToken { get; set; }

    /// <summary>Loopback clients may read <c>/metrics</c> without a token (default true).</summary>
    public bool MetricsAllowLoopback { get; set; } = true;

    /// <summary>
    /// Where to send traces with OTLP (e.g. <c>http://127.0.0.1:4317</c> for gRPC, <c>http://127.0.0.1:4318/v1/traces</c>
    /// for HTTP). Tracing is off when this is not set.
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><c>grpc</c> (default) or <c>http</c> (OTLP over HTTP with protobuf).</summary>
    [RegularExpression("^(grpc|http)$", ErrorMessage = "Operations:OtlpProtocol must be \"grpc\" or \"http\".")]
    public string OtlpProtocol { get; set; } = "grpc";

    /// <summary>The <c>service.name</c> traces and metrics carry (instances differ by <c>service.instance.id</c>).</summary>
    [Required]
    [StringLength(100, MinimumLength = 1)]
    public string ServiceName { get; set; } = "tokenpool";

    /// <summary>The share of requests traced when tracing is on, 0 to 1 (a parent's sampling decision is followed).</summary>
    [Range(0.0, 1.0)]
    public double TraceSampleRatio { get; set; } = 1.0;
}
