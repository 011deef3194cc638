using TokenPool.Data;

namespace TokenPool.Billing;

internal static class BillingSetup
{
    public static IServiceCollection AddBilling(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<BillingOptions>().Bind(configuration.GetSection(BillingOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<PriceCatalog>();
        services.AddSingleton<IChangeListener>(provider => provider.GetRequiredService<PriceCatalog>());
        services.AddSingleton<QuotaLedger>();
        services.AddSingleton<IChangeListener>(provider => provider.GetRequiredService<QuotaLedger>());
        services.AddSingleton<SettlementJournal>();
        services.AddSingleton<UsageWriter>();
        services.AddSingleton<UsageQueries>();
        return services;
    }

    /// <summary>The parts that run only inside the server: the batched writer, reservation reconciliation and lease returns.</summary>
    public static IServiceCollection AddBillingServices(this IServiceCollection services)
    {
        services.AddHostedService(provider => provider.GetRequiredService<UsageWriter>());
        services.AddHostedService<ReservationReconciler>();
        services.AddHostedService<LeaseReturner>();
        return services;
    }
}
