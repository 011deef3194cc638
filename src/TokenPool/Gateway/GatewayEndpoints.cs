using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Gateway.Dialects;
using TokenPool.Gateway.Relay;

namespace TokenPool.Gateway;

internal static class GatewayEndpoints
{
    public static IServiceCollection AddGateway(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<GatewayOptions>().Bind(configuration.GetSection(GatewayOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<RequestLimiter>();
        services.AddSingleton<UsageResolver>();
        services.AddSingleton<ResponseSizes>();
        services.AddSingleton(provider => new BridgeSource(provider.GetRequiredService<Translation.BridgeCatalog>().Find));
        services.AddSingleton<StreamCopier>();
        services.AddSingleton<BufferedCopy>();
        services.AddSingleton<UpstreamAttempt>();
        services.AddSingleton<UpstreamRelay>();
        services.AddSingleton<GatewayHandler>();
        services.AddSingleton<GatewayDrain>();
        services.AddSingleton<LiveRequests>();
        services.AddSingleton<IChangeListener>(provider => provider.GetRequiredService<LiveRequests>());
        services.AddSingleton<TokenEstimator>();
        return services;
    }

    /// <summary>Maps every API path of <see cref="ApiTable"/> under each of its roots, and a JSON answer for the rest of <c>/v1</c>.</summary>
    public static IEndpointRouteBuilder MapGateway(this IEndpointRouteBuilder app)
    {
        var handler = app.ServiceProvider.GetRequiredService<GatewayHandler>();
        foreach (var root in ApiTable.Roots)
        {
            foreach (var dialect in ApiTable.Dialects)
            {
                app.MapPost($"{root}/{dialect.Path}", context => handler.HandleAsync(context, dialect)).WithDisplayName(dialect.Endpoint + root);
            }

            app.MapGet($"{root}/{ApiTable.ModelsPath}", handler.ListModelsAsync).WithDisplayName("models" + root);
        }

        app.MapBalance(handler);

        // Anything else under /v1 gets a JSON answer, never an HTML page.
        app.Map("/v1/{**rest}", UnknownApiPath).WithOrder(int.MaxValue);
        return app;
    }

    private static Task UnknownApiPath(HttpContext context)
    {
        var path = context.Request.Path;
        var error = ApiTable.IsKnownPath(path)
            ? GatewayErrors.MethodNotAllowed(context.Request.Method, path.Value ?? "/")
            : GatewayErrors.UnknownPath(context.Request.Method, path.Value ?? "/");
        return (ApiTable.ForPath(path) ?? ApiTable.Dialects[0]).WriteErrorAsync(context, error);
    }
}
