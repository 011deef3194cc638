using Microsoft.AspNetCore.Mvc;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

/// <summary>The second step of signing in to an account with an authenticator app: a code from the app, or a recovery code.</summary>
internal sealed class SignInCodeModel(ConsoleSession session, AccountService accounts, PendingSignIn pending) : ConsolePageModel
{
    [BindProperty]
    public string? Code { get; set; }

    /// <summary>Whether the form asks for a recovery code instead of an app code.</summary>
    [BindProperty(SupportsGet = true)]
    public bool Recovery { get; set; }

    public IActionResult OnGet() =>
        pending.Read(HttpContext) is null ? LocalRedirect("/console/sign-in") : Page();

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        var waiting = pending.Read(HttpContext);
        var account = waiting is null ? null : await accounts.FindAsync(waiting.AccountId, cancellationToken);
        if (waiting is null || account is null || account.IsDisabled || account.SecurityStamp != waiting.SecurityStamp || !account.HasTotp)
        {
            pending.End(HttpContext);
            return LocalRedirect("/console/sign-in");
        }

        if (string.IsNullOrWhiteSpace(Code))
        {
            Error = Recovery ? "Enter one of your recovery codes." : "Enter the six-digit code your authenticator app shows.";
            return Page();
        }

        if (await session.CheckSecondFactorAsync(account, Code, Recovery, HttpContext, cancellationToken) is { } error)
        {
            Error = error;
            Response.StatusCode = error.StartsWith("Too many", StringComparison.Ordinal) ? StatusCodes.Status429TooManyRequests : StatusCodes.Status200OK;
            return Page();
        }

        await session.SignInAsync(HttpContext, account, Recovery ? SignInMethods.PasswordAndRecoveryCode : SignInMethods.PasswordAndCode, cancellationToken);
        return LocalRedirect(SafeReturnUrl(waiting.ReturnUrl));
    }
}
