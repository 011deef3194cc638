namespace TokenPool.Gateway.Translation;

internal static class TranslationSetup
{
    /// <summary>The bridges between APIs and the seal that carries reasoning across turns (Data Protection is set up by the store).</summary>
    public static IServiceCollection AddTranslation(this IServiceCollection services)
    {
        services.AddSingleton<ReasoningSeal>();
        services.AddSingleton<BridgeCatalog>();
        return services;
    }
}
