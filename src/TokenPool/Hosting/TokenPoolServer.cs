using Microsoft.AspNetCore.HttpOverrides;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Docs;
using TokenPool.Gateway;
using TokenPool.Gateway.Translation;
using TokenPool.Keys;
using TokenPool.Operations;
using TokenPool.Upstreams;
using TokenPool.WebConsole;

namespace TokenPool.Hosting;

/// <summary>How to run the server: where it listens, where its data lives, and any setting to override.</summary>
internal sealed record ServeSettings(string Urls, string DataDirectory)
{
    public IDictionary<string, string?> Overrides { get; init; } = new Dictionary<string, string?>();

    /// <summary>Extra set-up applied last (the tests use it to capture logs).</summary>
    public Action<WebApplicationBuilder>? Customize { get; init; }
}

/// <summary>The TokenPool server, feature by feature.</summary>
internal static class TokenPoolServer
{
    // The marks UseAuthentication and UseAuthorization leave in the pipeline's properties; WebApplication adds
    // either middleware to every request unless its mark is set (not public ASP.NET Core constants).
    private const string AuthenticationMiddlewareSetKey = "__AuthenticationMiddlewareSet";
    private const string AuthorizationMiddlewareSetKey = "__AuthorizationMiddlewareSet";

    public static WebApplication Build(ServeSettings settings)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            ApplicationName = typeof(TokenPoolServer).Assembly.GetName().Name,
        });
        builder.Configuration.AddTokenPoolSources(settings.DataDirectory, settings.Overrides);
        builder.WebHost.UseUrls(settings.Urls);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        var lifecycle = builder.Configuration.GetSection(LifecycleOptions.Section).Get<LifecycleOptions>() ?? new LifecycleOptions();

        // The host waits for the drain, the streams it ends, and the usage writer; a little more, so that it never cuts them.
        builder.Host.ConfigureHostOptions(host => host.ShutdownTimeout = TimeSpan.FromSeconds(lifecycle.DrainSeconds + lifecycle.SettleSeconds + 30));
        builder.Logging.AddTokenPoolLogging();

        var configuration = builder.Configuration;
        builder.Services
            .AddStore(configuration)
            .AddKeys()
            .AddAccounts(configuration)
            .AddBilling(configuration)
            .AddBillingServices()
            .AddUpstreams(configuration)
            .AddGateway(configuration)
            .AddTranslation()
            .AddConsole(configuration)
            .AddHosting(configuration)
            .AddOperations(configuration)
            .AddDocs();
        settings.Customize?.Invoke(builder);

        var app = builder.Build();
        app.UseForwardedHeaders();
        app.UseTokenPoolErrors();
        app.MapOperations();
        app.UseMiddleware<HostRouting>();
        app.UseSignInOutsideTheApi();
        app.MapHealth();
        app.MapGateway();
        app.MapConsole();
        app.MapDocs();
        return app;
    }

    /// <summary>
    /// Brings the store up to date and loads what the first request needs (catalogue, pool), starting the
    /// built-in simulator when no channel is configured. Call before the server starts listening.
    /// </summary>
    public static async Task PrepareAsync(this WebApplication app, CancellationToken cancellationToken)
    {
        var services = app.Services;
        await services.InitializeStoreAsync(cancellationToken, migrate: services.GetRequiredService<Microsoft.Extensions.Options.IOptions<StoreOptions>>().Value.MigrateOnStart);
        await services.GetRequiredService<ChangeFeed>().PollOnceAsync(cancellationToken);
        await services.GetRequiredService<PriceCatalog>().LoadAsync(cancellationToken);
        await services.GetRequiredService<UpstreamPool>().LoadAsync(cancellationToken);
        await services.GetRequiredService<BuiltInSimulator>().StartIfNoChannelsAsync(cancellationToken);
    }

    /// <summary><c>tokenpool serve</c>: runs until stopped (Ctrl+C or SIGTERM), then drains in-flight requests and usage records.</summary>
    public static async Task<int> RunAsync(ServeSettings settings, CancellationToken cancellationToken)
    {
        DataDirectoryPermissions.RestrictNewFiles();
        using var dataLock = DataDirectoryLock.TryAcquire(settings.DataDirectory);
        if (dataLock is null)
        {
            await Console.Error.WriteLineAsync(
                $"Another TokenPool server is already using the data directory {settings.DataDirectory}. Stop it first, or start this one with --data pointing elsewhere.");
            return 1;
        }

        WebApplication app;
        try
        {
            app = Build(settings);
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync($"TokenPool cannot start: {ex.Message}");
            return 1;
        }

        await using var started = app;
        try
        {
            await app.PrepareAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is StoreNotReadyException or ArgumentException or System.Data.Common.DbException)
        {
            // A store that cannot be used as configured: one plain line (Npgsql's messages never carry the password).
            await Console.Error.WriteLineAsync($"TokenPool cannot start: {ex.Message}");
            return 1;
        }

        try
        {
            await app.RunAsync();
        }
        catch (IOException ex) when (ex.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
        {
            await Console.Error.WriteLineAsync(
                $"TokenPool could not listen on {settings.Urls}: the address is already in use. Stop the program using it, or start TokenPool with --urls naming a free port.");
            return 1;
        }

        return 0;
    }

    /// <summary>
    /// API requests carry a key, never a console cookie: cookie authentication and authorization run for every other
    /// path only. ASP.NET Core would otherwise add both for every request; the two marks it checks say they are added.
    /// </summary>
    private static void UseSignInOutsideTheApi(this WebApplication app)
    {
        IApplicationBuilder pipeline = app;
        pipeline.Properties[AuthenticationMiddlewareSetKey] = true;
        pipeline.Properties[AuthorizationMiddlewareSetKey] = true;
        app.UseWhen(context => !ErrorHandling.IsApiPath(context.Request.Path), signIn =>
        {
            signIn.UseAuthentication();
            signIn.UseAuthorization();
        });
    }

    private static IServiceCollection AddHosting(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LifecycleOptions>().Bind(configuration.GetSection(LifecycleOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddHostedService<GracefulStop>();
        services.AddOptions<HostsOptions>().Bind(configuration.GetSection(HostsOptions.Section));
        var proxies = configuration.GetSection(ProxyOptions.Section).Get<ProxyOptions>() ?? new ProxyOptions();
        var addresses = proxies.KnownProxies.Select(address => System.Net.IPAddress.TryParse(address, out var parsed)
            ? parsed
            : throw new InvalidOperationException($"Proxy:KnownProxies: \"{address}\" is not an IP address.")).ToList();
        var networks = proxies.KnownNetworks.Select(network => System.Net.IPNetwork.TryParse(network, out var parsed)
            ? parsed
            : throw new InvalidOperationException($"Proxy:KnownNetworks: \"{network}\" is not a network in CIDR notation (e.g. 10.0.0.0/8).")).ToList();
        services.Configure<ForwardedHeadersOptions>(forwarded =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            addresses.ForEach(forwarded.KnownProxies.Add);
            networks.ForEach(forwarded.KnownIPNetworks.Add);
        });
        services.AddSingleton<PublicUrls>();
        services.AddSingleton<BuiltInSimulator>();
        services.AddHostedService(provider => provider.GetRequiredService<ChangeFeed>());
        if (!StoreSetup.IsPostgres(configuration.GetSection(StoreOptions.Section).Get<StoreOptions>() ?? new StoreOptions()))
        {
            services.AddHostedService<WalCheckpointer>();
        }

        services.AddHostedService<MemoryTrimmer>();
        return services;
    }
}
