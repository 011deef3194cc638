using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

/// <summary>Sign in with an email and password (then a code when the account has an authenticator app), or with a passkey alone.</summary>
internal sealed class SignInModel(
    ConsoleSession session,
    AccountService accounts,
    PendingSignIn pending,
    PasskeyService passkeys,
    PasskeyCeremony ceremony,
    SignInThrottle throttle,
    IOptions<AccountOptions> accountOptions) : ConsolePageModel
{
    private const string PasskeyPurpose = "sign-in";

    [BindProperty]
    public string? Email { get; set; }

    [BindProperty]
    public string? Password { get; set; }

    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    public bool AllowSignUp => accountOptions.Value.AllowSignUp;

    public IActionResult OnGet(string? signedOut, string? reset, string? created)
    {
        if (User.Identity?.IsAuthenticated == true)
        {
            return LocalRedirect(SafeReturnUrl(ReturnUrl));
        }

        if (created is not null && ReturnUrl is null)
        {
            // A new account's first sign-in lands on the welcome note of the API keys page.
            ReturnUrl = "/console/api-keys?welcome=1";
        }

        Notice = signedOut is not null ? "You are signed out."
            : reset is not null ? "Your password is changed and every session of your account is signed out. Sign in with the new password."
            : created is not null ? "Your account is ready: sign in with the email and password you chose."
            : null;
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
        if (check.Account is not { } account)
        {
            Error = check.Error;
            Response.StatusCode = check.Paused ? StatusCodes.Status429TooManyRequests : StatusCodes.Status200OK;
            return Page();
        }

        if (account.HasTotp)
        {
            pending.Begin(HttpContext, account.Id, account.SecurityStamp, SafeReturnUrl(ReturnUrl));
            return LocalRedirect("/console/sign-in/code");
        }

        await session.SignInAsync(HttpContext, account, SignInMethods.Password, cancellationToken);
        return LocalRedirect(SafeReturnUrl(ReturnUrl));
    }

    /// <summary>Starts a passkey sign-in: the options for <c>navigator.credentials.get</c>.</summary>
    public IActionResult OnPostPasskeyOptions()
    {
        var options = passkeys.SignInOptions(ceremony.Site(HttpContext));
        ceremony.Begin(HttpContext, PasskeyPurpose, options);
        return Content(options, "application/json");
    }

    /// <summary>Finishes a passkey sign-in with the browser's answer; answers with where to go next, or why not.</summary>
    public async Task<IActionResult> OnPostPasskeyAsync([FromForm] string? credential, CancellationToken cancellationToken)
    {
        var address = ClientAddress;
        if (throttle.RetryAfter(throttle.CodesFromAddress, address) is { } wait)
        {
            return new JsonResult(new { error = SignInThrottle.CodeMessage(wait) }) { StatusCode = StatusCodes.Status429TooManyRequests };
        }

        var options = ceremony.Finish(HttpContext, PasskeyPurpose);
        var accountId = options is null || credential is null ? null : await passkeys.SignInAsync(ceremony.Site(HttpContext), options, credential, cancellationToken);
        var account = accountId is { } id ? await accounts.FindAsync(id, cancellationToken) : null;
        if (account is null || account.IsDisabled)
        {
            throttle.Record(throttle.CodesFromAddress, address);
            return new JsonResult(new
            {
                error = account?.IsDisabled == true
                    ? "This account is disabled. Contact your TokenPool administrator."
                    : "That passkey did not sign you in. It may have been removed from your account; sign in with your password instead.",
            })
            { StatusCode = StatusCodes.Status400BadRequest };
        }

        await session.SignInAsync(HttpContext, account, SignInMethods.Passkey, cancellationToken);
        return new JsonResult(new { redirect = SafeReturnUrl(ReturnUrl) });
    }
}
