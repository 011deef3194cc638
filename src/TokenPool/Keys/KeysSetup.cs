using TokenPool.Data;

namespace TokenPool.Keys;

internal static class KeysSetup
{
    public static IServiceCollection AddKeys(this IServiceCollection services)
    {
        services.AddSingleton<KeySecrets>();
        services.AddSingleton<ApiKeyCache>();
        services.AddSingleton<IChangeListener>(provider => provider.GetRequiredService<ApiKeyCache>());
        services.AddSingleton<ApiKeyService>();
        return services;
    }
}
