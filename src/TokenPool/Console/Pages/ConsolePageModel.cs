using Microsoft.AspNetCore.Mvc.RazorPages;
using TokenPool.Accounts;

namespace TokenPool.WebConsole.Pages;

/// <summary>What every signed-in console page knows: who is signed in, from where.</summary>
internal abstract class ConsolePageModel : PageModel
{
    public Account CurrentAccount => ConsoleSession.Current(HttpContext);

    public long AccountId => ConsoleSession.AccountId(User);

    public string? ClientAddress => ConsoleSession.ClientAddress(HttpContext);

    /// <summary>A message for the top of the page after an action.</summary>
    public string? Notice { get; set; }

    public string? Error { get; set; }

    /// <summary>Only local console addresses are followed after sign-in, never another site.</summary>
    public static string SafeReturnUrl(string? returnUrl) =>
        returnUrl is { Length: > 1 } url && url.StartsWith("/console", StringComparison.Ordinal) && !url.StartsWith("//", StringComparison.Ordinal) && !url.Contains('\\', StringComparison.Ordinal)
            ? url
            : "/console/api-keys";
}
