using Microsoft.AspNetCore.Identity;
using TokenPool.Mail;

namespace TokenPool.Accounts;

internal static class AccountsSetup
{
    public static IServiceCollection AddAccounts(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AccountOptions>().Bind(configuration.GetSection(AccountOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IPasswordHasher<Account>, PasswordHasher<Account>>();
        services.AddSingleton<AccountService>();
        services.AddSingleton<SessionStore>();
        services.AddSingleton<OneTimeTokens>();
        services.AddSingleton<TwoFactor>();
        services.AddSingleton<PasskeyService>();
        services.AddSingleton<SecurityPolicies>();
        services.AddMail(configuration);
        return services;
    }
}
