using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Mvc;

namespace TokenPool.WebConsole.Pages;

internal sealed class SignOutModel : ConsolePageModel
{
    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync()
    {
        await HttpContext.SignOutAsync(ConsoleSession.Scheme);
        return LocalRedirect("/console/sign-in?signedOut=1");
    }
}
