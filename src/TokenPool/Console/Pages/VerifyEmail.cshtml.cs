using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

/// <summary>Confirming an account's email from the link sent to it, and sending a new link (for a signed-in, unverified account).</summary>
internal sealed class VerifyEmailModel(
    AccountService accounts,
    OneTimeTokens tokens,
    AccountMailer mailer,
    SignInThrottle throttle,
    IOptions<AccountOptions> accountOptions) : ConsolePageModel
{
    public bool Verified { get; private set; }

    public async Task OnGetAsync(string? token, CancellationToken cancellationToken)
    {
        if (await tokens.SpendAsync(token, AccountTokenPurposes.VerifyEmail, cancellationToken) is { } accountId)
        {
            await accounts.MarkEmailVerifiedAsync(accountId, ClientAddress, cancellationToken);
            Verified = true;
            Notice = "Your email is confirmed. You can create API keys now.";
        }
        else
        {
            Error = "This confirmation link has expired or was used already. Sign in and ask for a new one on the API keys page.";
        }
    }

    /// <summary>Sends a new confirmation link to the signed-in account's email.</summary>
    public async Task<IActionResult> OnPostResendAsync(CancellationToken cancellationToken)
    {
        if (User.Identity?.IsAuthenticated != true)
        {
            return LocalRedirect("/console/sign-in?returnUrl=%2Fconsole%2Fapi-keys");
        }

        var account = CurrentAccount;
        var subject = "verify:" + account.Id;
        if (account.EmailVerifiedAt is not null)
        {
            Notice = "Your email is already confirmed.";
        }
        else if (mailer.Unavailable(HttpContext) is { } unavailable)
        {
            Error = unavailable;
        }
        else if (SignInThrottle.Longest(throttle.RetryAfter(throttle.ResetsFromAddress, ClientAddress), throttle.RetryAfter(throttle.ResetMailsForAccount, subject)) is { } wait)
        {
            Error = $"We sent a link a moment ago. Check your inbox (and spam folder), or ask again {SignInThrottle.InWords(wait)}.";
        }
        else
        {
            throttle.Record(throttle.ResetsFromAddress, ClientAddress);
            throttle.Record(throttle.ResetMailsForAccount, subject);
            await mailer.SendVerificationAsync(account, HttpContext, cancellationToken);
            Notice = $"We sent a new confirmation link to {account.Email}. It works for {accountOptions.Value.VerifyEmailHours} hours.";
        }

        return Page();
    }
}
