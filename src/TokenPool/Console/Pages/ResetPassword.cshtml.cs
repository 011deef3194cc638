using Microsoft.AspNetCore.Mvc;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

/// <summary>Choosing a new password from a reset link: the link works once, until it expires; the reset signs out every session.</summary>
internal sealed class ResetPasswordModel(AccountService accounts, OneTimeTokens tokens, SignInThrottle throttle) : ConsolePageModel
{
    public const string DeadLinkMessage = "This reset link has expired or was used already. Ask for a new one.";

    [BindProperty(SupportsGet = true)]
    public string? Token { get; set; }

    public bool LinkWorks { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        LinkWorks = await tokens.FindAsync(Token, AccountTokenPurposes.PasswordReset, cancellationToken) is not null;
        Error = LinkWorks ? null : DeadLinkMessage;
    }

    public async Task<IActionResult> OnPostAsync(string? newPassword, string? confirm, CancellationToken cancellationToken)
    {
        LinkWorks = true;
        if (newPassword != confirm)
        {
            Error = "The two passwords are not the same. Type them again.";
            return Page();
        }

        try
        {
            AccountService.ValidatePassword(newPassword ?? "");
        }
        catch (AccountActionException error)
        {
            Error = error.Message;
            return Page();
        }

        if (await tokens.SpendAsync(Token, AccountTokenPurposes.PasswordReset, cancellationToken) is not { } accountId)
        {
            LinkWorks = false;
            Error = DeadLinkMessage;
            return Page();
        }

        var account = await accounts.SetPasswordAsync(accountId, newPassword!, null, AuditKinds.PasswordReset, ClientAddress, cancellationToken);
        throttle.Forgive(throttle.PasswordsForAccount, account.NormalizedEmail);
        return LocalRedirect("/console/sign-in?reset=1");
    }
}
