using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.Options;
using TokenPool.Mail;

namespace TokenPool.Accounts;

internal static class AccountsSetup
{
    public static IServiceCollection AddAccounts(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AccountOptions>().Bind(configuration.GetSection(AccountOptions.Section)).ValidateDataAnnotations()
            .Validate<IOptions<MailOptions>>(
                (accounts, mail) => !accounts.RequireVerifiedEmail || mail.Value.IsConfigured,
                "Accounts:RequireVerifiedEmail needs mail to send the links: set Mail:Host and Mail:From, or turn it off.")
            .ValidateOnStart();
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
