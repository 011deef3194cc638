using Microsoft.AspNetCore.Mvc;
using TokenPool.Accounts;
using TokenPool.Keys;

namespace TokenPool.WebConsole.Pages;

internal sealed class AccountModel(AccountService accounts, ApiKeyService keys, ConsoleSession session) : ConsolePageModel
{
    public List<AuditEvent> Events { get; private set; } = [];

    public static string Describe(string kind) => kind switch
    {
        AuditKinds.KeyCreated => "Key created",
        AuditKinds.KeyRevealed => "Key revealed",
        AuditKinds.KeyDeleted => "Key deleted",
        AuditKinds.KeyRotated => "Key rotated",
        AuditKinds.KeyUpdated => "Key settings changed",
        AuditKinds.KeyLimitsChanged => "Key request limits changed",
        AuditKinds.SignedIn => "Signed in",
        AuditKinds.PasswordChanged => "Password changed",
        AuditKinds.CreditChanged => "Credit changed",
        AuditKinds.AccountDisabled => "Account disabled",
        AuditKinds.AccountEnabled => "Account enabled",
        AuditKinds.RoleChanged => "Role changed",
        AuditKinds.AccountLimitsChanged => "Account request limits changed",
        AuditKinds.UpstreamKeyEnabled => "Upstream key enabled",
        AuditKinds.UpstreamKeyDisabled => "Upstream key disabled",
        AuditKinds.UpstreamKeyReset => "Upstream key's circuit and cool-down reset",
        AuditKinds.ModelAdded => "Model added",
        AuditKinds.ModelPriceChanged => "Model prices changed",
        _ => kind,
    };

    public async Task OnGetAsync(CancellationToken cancellationToken) =>
        Events = await keys.AuditLogAsync(AccountId, 100, cancellationToken);

    public async Task<IActionResult> OnPostPasswordAsync(string? current, string? newPassword, string? confirm, CancellationToken cancellationToken)
    {
        if (newPassword != confirm)
        {
            Error = "The two new passwords are not the same. Type them again.";
        }
        else if (await session.ConfirmAsync(HttpContext, current, "Your current password is not right. Try again.", cancellationToken) is { } error)
        {
            Error = error;
        }
        else
        {
            try
            {
                var account = await accounts.ChangePasswordAsync(AccountId, newPassword ?? "", cancellationToken);
                await session.SignInAsync(HttpContext, account);
                HttpContext.Items[ConsoleSession.CurrentAccountItem] = account;
                Notice = "Your password is changed. Every other session of this account is signed out.";
            }
            catch (AccountActionException failure)
            {
                Error = failure.Message;
            }
        }

        Events = await keys.AuditLogAsync(AccountId, 100, cancellationToken);
        return Page();
    }
}
