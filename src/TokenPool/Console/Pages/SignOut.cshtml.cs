using Microsoft.AspNetCore.Mvc;

namespace TokenPool.WebConsole.Pages;

internal sealed class SignOutModel(ConsoleSession session, Accounts.AccountService accounts) : ConsolePageModel
{
    public override bool AllowedBeforeEnrolment => true;

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        if (User.Identity?.IsAuthenticated == true)
        {
            await accounts.RecordAsync(AccountId, Accounts.AuditKinds.SignedOut, null, ClientAddress, cancellationToken);
        }

        await session.SignOutAsync(HttpContext, cancellationToken);
        return LocalRedirect("/console/sign-in?signedOut=1");
    }
}
