using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

internal sealed class SignInModel(ConsoleSession session, IOptions<AccountOptions> accountOptions) : ConsolePageModel
{
    [BindProperty]
    public string? Email { get; set; }

    [BindProperty]
    public string? Password { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public bool AllowSignUp => accountOptions.Value.AllowSignUp;

    public IActionResult OnGet(string? signedOut)
    {
        if (User.Identity?.IsAuthenticated == true)
        {
            return LocalRedirect(SafeReturnUrl(ReturnUrl));
        }

        Notice = signedOut is null ? null : "You are signed out.";
        return Page();
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(Email) || string.IsNullOrEmpty(Password))
        {
            Error = "Enter your email and password.";
            return Page();
        }

        var check = await session.CheckAsync(Email, Password, HttpContext, cancellationToken);
        if (check.Account is null)
        {
            Error = check.Error;
            Response.StatusCode = check.Paused ? StatusCodes.Status429TooManyRequests : StatusCodes.Status200OK;
            return Page();
        }

        await session.SignInAsync(HttpContext, check.Account);
        await session.RecordSignInAsync(check.Account, HttpContext, cancellationToken);
        return LocalRedirect(SafeReturnUrl(ReturnUrl));
    }
}
