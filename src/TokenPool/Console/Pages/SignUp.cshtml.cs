using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

/// <summary>
/// Creating an account. Sign-ups are slowed per client address and per network (/24, /64), and the answer is the
/// same whether or not the email already has an account: the new account is not signed in here (its owner signs
/// in next, or first confirms the email when <c>Accounts:RequireVerifiedEmail</c> is on), and an existing owner
/// gets a mail saying someone tried, when mail is configured.
/// </summary>
internal sealed class SignUpModel(
    AccountService accounts,
    AccountMailer mailer,
    SignInThrottle throttle,
    IOptions<AccountOptions> accountOptions) : ConsolePageModel
{
    [BindProperty]
    public string? Email { get; set; }

    [BindProperty]
    public string? Password { get; set; }

    [BindProperty]
    public string? Confirm { get; set; }

    public bool AllowSignUp => accountOptions.Value.AllowSignUp;

    /// <summary>Set after a sign-up when the email must be confirmed: the page then says to check the inbox.</summary>
    public string? SentTo { get; private set; }

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

        var email = (Email ?? "").Trim();
        var password = Password ?? "";
        try
        {
            AccountService.ValidateNew(email, password);
        }
        catch (AccountActionException error)
        {
            Error = error.Message;
            return Page();
        }

        var address = ClientAddress;
        var network = SignInThrottle.Network(address);
        if (SignInThrottle.Longest(throttle.RetryAfter(throttle.SignUpsFromAddress, address), throttle.RetryAfter(throttle.SignUpsFromNetwork, network)) is { } wait)
        {
            Error = $"Too many accounts were created from your network. Try again {SignInThrottle.InWords(wait)}.";
            Response.StatusCode = StatusCodes.Status429TooManyRequests;
            return Page();
        }

        throttle.Record(throttle.SignUpsFromAddress, address);
        throttle.Record(throttle.SignUpsFromNetwork, network);
        var existing = await accounts.FindByEmailAsync(email, cancellationToken);
        if (existing is null)
        {
            try
            {
                var account = await accounts.CreateAsync(email, password, AccountRole.User, null, cancellationToken, emailVerified: false);
                await mailer.SendVerificationAsync(account, HttpContext, cancellationToken);
            }
            catch (AccountActionException)
            {
                // Made a moment ago by a concurrent sign-up: answered like any existing email.
            }
        }
        else
        {
            accounts.CheckNoPassword(password);
            var subject = "signup:" + existing.Id;
            if (throttle.RetryAfter(throttle.ResetMailsForAccount, subject) is null && mailer.SendAlreadyRegistered(existing, HttpContext))
            {
                throttle.Record(throttle.ResetMailsForAccount, subject);
            }
        }

        if (accountOptions.Value.RequireVerifiedEmail)
        {
            SentTo = email;
            return Page();
        }

        return LocalRedirect("/console/sign-in?created=1");
    }
}
