namespace TokenPool.WebConsole.Pages;

internal sealed class ForbiddenModel : ConsolePageModel
{
    public void OnGet()
    {
    }
}
