using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace TokenPool.Operations;

internal static class OperationsSetup
{
    public const string MetricsPath = "/metrics";

    /// <summary>
    /// Metrics (always collected, read at <c>/metrics</c>) and traces (only with <see cref="OperationsOptions.OtlpEndpoint"/>),
    /// through OpenTelemetry's SDK, its Prometheus exporter and its OTLP exporter.
    /// </summary>
    public static IServiceCollection AddOperations(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<OperationsOptions>().Bind(configuration.GetSection(OperationsOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<TokenPoolMetrics>();
        services.AddSingleton<MetricsAccess>();
        services.AddHostedService<OperationsGauges>();

        var options = configuration.GetSection(OperationsOptions.Section).Get<OperationsOptions>() ?? new OperationsOptions();
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(options.ServiceName, serviceInstanceId: Environment.MachineName + "-" + Environment.ProcessId));
        if (options.MetricsEnabled)
        {
            telemetry.WithMetrics(metrics => metrics
                .AddMeter(TokenPoolMetrics.MeterName)
                .AddPrometheusExporter(prometheus => prometheus.ScrapeResponseCacheDurationMilliseconds = 0));
        }

        if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint))
        {
            telemetry.WithTracing(tracing => tracing
                .AddSource(TokenPoolTracing.SourceName)
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(options.TraceSampleRatio)))
                .AddOtlpExporter(otlp =>
                {
                    otlp.Endpoint = new Uri(options.OtlpEndpoint);
                    otlp.Protocol = options.OtlpProtocol == "http" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                }));
        }

        return services;
    }

    /// <summary>
    /// <c>/metrics</c> in Prometheus' text format, for loopback clients, clients in <see cref="OperationsOptions.MetricsAllowedNetworks"/>
    /// and clients with the bearer token; everyone else gets a plain 404, as if there were nothing there.
    /// </summary>
    public static WebApplication MapOperations(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<OperationsOptions>>().Value;
        if (!options.MetricsEnabled)
        {
            return app;
        }

        var access = app.Services.GetRequiredService<MetricsAccess>();
        app.UseWhen(context => context.Request.Path.Equals(MetricsPath, StringComparison.Ordinal), metrics =>
        {
            metrics.Use(async (context, next) =>
            {
                if (!access.Allows(context))
                {
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    context.Response.ContentType = "text/plain; charset=utf-8";
                    await context.Response.WriteAsync("Not found.\n", context.RequestAborted);
                    return;
                }

                await next(context);
            });
        });
        app.UseOpenTelemetryPrometheusScrapingEndpoint(MetricsPath);
        return app;
    }
}

/// <summary>Who may read <c>/metrics</c>.</summary>
internal sealed class MetricsAccess
{
    private readonly List<IPNetwork> _networks;
    private readonly byte[]? _token;
    private readonly bool _loopback;

    public MetricsAccess(IOptions<OperationsOptions> options)
    {
        var value = options.Value;
        _loopback = value.MetricsAllowLoopback;
        _networks = value.MetricsAllowedNetworks.Select(network => IPNetwork.TryParse(network, out var parsed)
            ? parsed
            : throw new InvalidOperationException($"Operations:MetricsAllowedNetworks: \"{network}\" is not a network in CIDR notation (e.g. 10.0.0.0/8).")).ToList();
        _token = string.IsNullOrEmpty(value.MetricsToken) ? null : Encoding.UTF8.GetBytes(value.MetricsToken);
    }

    public bool Allows(HttpContext context)
    {
        if (_token is not null && context.Request.Headers.Authorization is [{ } authorization]
            && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(authorization[7..].Trim()), _token))
        {
            return true;
        }

        var address = context.Connection.RemoteIpAddress;
        if (address is null)
        {
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return (_loopback && IPAddress.IsLoopback(address)) || _networks.Any(network => network.Contains(address));
    }
}
