using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Filters;
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

    /// <summary>Pages an admin who must set up two-factor sign-in can still open (setting it up, signing out).</summary>
    public virtual bool AllowedBeforeEnrolment => false;

    /// <summary>Only local console addresses are followed after sign-in, never another site.</summary>
    public static string SafeReturnUrl(string? returnUrl) =>
        returnUrl is { Length: > 1 } url && url.StartsWith("/console", StringComparison.Ordinal) && !url.StartsWith("//", StringComparison.Ordinal) && !url.Contains('\\', StringComparison.Ordinal)
            ? url
            : "/console/api-keys";

    /// <summary>Sends an admin who must sign in with two factors, and has not, to set them up first.</summary>
    public override Task OnPageHandlerExecutionAsync(PageHandlerExecutingContext context, PageHandlerExecutionDelegate next)
    {
        if (!AllowedBeforeEnrolment && HttpContext.Items.ContainsKey(ConsoleSession.MustEnrolItem))
        {
            context.Result = new LocalRedirectResult("/console/account/two-factor?required=1");
            return Task.CompletedTask;
        }

        return base.OnPageHandlerExecutionAsync(context, next);
    }
}
