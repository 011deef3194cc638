using TokenPool.Billing;
using TokenPool.Upstreams;

namespace TokenPool.Gateway;

internal static class GatewayEndpoints
{
    /// <summary>The API paths, served under <c>/v1</c> and at the root (Codex calls <c>{base_url}/responses</c>).</summary>
    public static readonly string[] ApiRoots = ["/v1", ""];

    public static IServiceCollection AddGateway(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<GatewayOptions>().Bind(configuration.GetSection(GatewayOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<RequestLimiter>();
        services.AddSingleton<UsageResolver>();
        services.AddSingleton<UpstreamRelay>();
        services.AddSingleton<GatewayHandler>();
        services.AddSingleton<GatewayDrain>();
        services.AddSingleton<TokenEstimator>();
        return services;
    }

    public static IEndpointRouteBuilder MapGateway(this IEndpointRouteBuilder app)
    {
        var handler = app.ServiceProvider.GetRequiredService<GatewayHandler>();
        foreach (var root in ApiRoots)
        {
            app.MapPost(root + "/responses", context => handler.HandleAsync(context, ClientApiKind.Responses)).WithDisplayName("responses" + root);
            app.MapPost(root + "/chat/completions", context => handler.HandleAsync(context, ClientApiKind.ChatCompletions)).WithDisplayName("chat" + root);
            app.MapGet(root + "/models", handler.ListModelsAsync).WithDisplayName("models" + root);
        }

        app.MapBalance(handler);

        // Anything else under /v1 gets a JSON answer, never an HTML page.
        app.Map("/v1/{**rest}", UnknownApiPath).WithOrder(int.MaxValue);
        return app;
    }

    private static Task UnknownApiPath(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "/";
        var known = path.TrimEnd('/') is "/v1/responses" or "/v1/chat/completions" or "/v1/models";
        var error = known
            ? GatewayErrors.MethodNotAllowed(context.Request.Method, path)
            : GatewayErrors.UnknownPath(context.Request.Method, path);
        return error.WriteAsync(context);
    }
}
