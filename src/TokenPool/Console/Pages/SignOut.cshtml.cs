using Microsoft.AspNetCore.Mvc;

namespace TokenPool.WebConsole.Pages;

internal sealed class SignOutModel(ConsoleSession session) : ConsolePageModel
{
    public override bool AllowedBeforeEnrolment => true;

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        await session.SignOutAsync(HttpContext, cancellationToken);
        return LocalRedirect("/console/sign-in?signedOut=1");
    }
}
