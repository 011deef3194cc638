using TokenPool.Data;

namespace TokenPool.Upstreams;

internal static class UpstreamsSetup
{
    public static IServiceCollection AddUpstreams(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<UpstreamOptions>().Bind(configuration.GetSection(UpstreamOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<UpstreamPool>();
        services.AddSingleton<IChangeListener>(provider => provider.GetRequiredService<UpstreamPool>());
        services.AddSingleton<SessionAffinity>();
        services.AddSingleton<ChannelService>();
        services.AddSingleton<ChannelHealth>();
        services.AddSingleton<HealthProber>();
        services.AddHostedService(provider => provider.GetRequiredService<HealthProber>());
        return services;
    }
}
