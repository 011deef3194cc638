namespace TokenPool.Mail;

/// <summary>Outgoing mail: the options, the queue pages put messages in, and the background sender.</summary>
internal static class MailSetup
{
    public static IServiceCollection AddMail(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MailOptions>().Bind(configuration.GetSection(MailOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<MailOutbox>();
        services.AddHostedService<MailSender>();
        return services;
    }
}
