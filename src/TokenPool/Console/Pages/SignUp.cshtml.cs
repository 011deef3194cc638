using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

internal sealed class SignUpModel(AccountService accounts, ConsoleSession session, IOptions<AccountOptions> accountOptions) : ConsolePageModel
{
    [BindProperty]
    public string? Email { get; set; }

    [BindProperty]
    public string? Password { get; set; }

    [BindProperty]
    public string? Confirm { get; set; }

    public bool AllowSignUp => accountOptions.Value.AllowSignUp;

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        if (!AllowSignUp)
        {
            Response.StatusCode = 403;
            return Page();
        }

        if (Password != Confirm)
        {
            Error = "The two passwords are not the same. Type them again.";
            return Page();
        }

        try
        {
            var account = await accounts.CreateAsync(Email ?? "", Password ?? "", AccountRole.User, null, cancellationToken);
            await session.SignInAsync(HttpContext, account);
            await session.RecordSignInAsync(account, HttpContext, cancellationToken);
            return LocalRedirect("/console/api-keys?welcome=1");
        }
        catch (AccountActionException error)
        {
            Error = error.Message;
            return Page();
        }
    }
}
