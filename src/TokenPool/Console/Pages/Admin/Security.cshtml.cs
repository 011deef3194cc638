using Microsoft.AspNetCore.Mvc;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages.Admin;

/// <summary>Admin: the sign-in policy (whether admins must sign in with two factors).</summary>
internal sealed class SecurityModel(SecurityPolicies policies) : ConsolePageModel
{
    public SecurityPolicy Policy { get; private set; } = new();

    public async Task OnGetAsync(CancellationToken cancellationToken) => Policy = await policies.GetAsync(cancellationToken);

    public async Task<IActionResult> OnPostAsync(bool requireTwoFactorForAdmins, CancellationToken cancellationToken)
    {
        await policies.SetRequireTwoFactorForAdminsAsync(requireTwoFactorForAdmins, AccountId, ClientAddress, cancellationToken);
        Policy = await policies.GetAsync(cancellationToken);
        Notice = requireTwoFactorForAdmins
            ? "Admins must now sign in with two factors. An admin without them is sent to set them up on their next page."
            : "Admins may sign in with a password alone.";
        return Page();
    }
}
