using Microsoft.AspNetCore.Mvc;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

/// <summary>
/// "Forgot password": mails a single-use reset link that expires. The answer is the same whether or not the email
/// has an account; requests are slowed per client address (the answer then says so, for any email) and per account
/// (further mails are quietly not sent for a while, so an inbox cannot be flooded).
/// </summary>
internal sealed class ForgotPasswordModel(AccountService accounts, AccountMailer mailer, SignInThrottle throttle) : ConsolePageModel
{
    public const string SentMessage =
        "If an account has this email, we sent it a link to choose a new password. Check your inbox (and spam folder).";

    [BindProperty]
    public string? Email { get; set; }

    public string? Unavailable { get; private set; }

    public void OnGet() => Unavailable = mailer.Unavailable(HttpContext);

    public async Task<IActionResult> OnPostAsync(CancellationToken cancellationToken)
    {
        Unavailable = mailer.Unavailable(HttpContext);
        var email = (Email ?? "").Trim();
        if (Unavailable is not null)
        {
            return Page();
        }

        if (email.Length is 0 or > ConsoleSession.MaxEmailLength)
        {
            Error = "Enter the email of your account.";
            return Page();
        }

        var address = ClientAddress;
        if (throttle.RetryAfter(throttle.ResetsFromAddress, address) is { } wait)
        {
            Error = $"Too many reset requests from your address. Try again {SignInThrottle.InWords(wait)}.";
            Response.StatusCode = StatusCodes.Status429TooManyRequests;
            return Page();
        }

        throttle.Record(throttle.ResetsFromAddress, address);
        var account = await accounts.FindByEmailAsync(email, cancellationToken);
        var subject = account is null ? null : "reset:" + account.Id;
        if (account is { IsDisabled: false } && throttle.RetryAfter(throttle.ResetMailsForAccount, subject) is null)
        {
            throttle.Record(throttle.ResetMailsForAccount, subject);
            await mailer.SendPasswordResetAsync(account, HttpContext, cancellationToken);
            await accounts.RecordAsync(account.Id, AuditKinds.PasswordResetRequested, null, address, cancellationToken);
        }

        Notice = SentMessage;
        return Page();
    }
}
