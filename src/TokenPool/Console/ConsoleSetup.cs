using Microsoft.AspNetCore.Authentication.Cookies;

namespace TokenPool.WebConsole;

/// <summary>The web console at <c>/console</c>: server-rendered Razor Pages behind a cookie session.</summary>
internal static class ConsoleSetup
{
    public const string CookieName = "tokenpool_session";

    public static IServiceCollection AddConsole(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ConsoleOptions>().Bind(configuration.GetSection(ConsoleOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<SignInThrottle>();
        services.AddSingleton<ConsoleSession>();
        services.AddSingleton<KnownDevices>();
        services.AddSingleton<PendingSignIn>();
        services.AddSingleton<PasskeyCeremony>();
        services.AddSingleton<AccountMailer>();
        services.AddSingleton<KeyTester>();
        services.AddSingleton<ChannelTester>();
        var sessionHours = configuration.GetSection(ConsoleOptions.Section).Get<ConsoleOptions>()?.SessionHours ?? 12;

        services.AddAuthentication(ConsoleSession.Scheme).AddCookie(ConsoleSession.Scheme, cookie =>
        {
            cookie.Cookie.Name = CookieName;
            cookie.Cookie.Path = "/console";
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Lax;
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.LoginPath = "/console/sign-in";
            cookie.LogoutPath = "/console/sign-out";
            cookie.AccessDeniedPath = "/console/forbidden";
            cookie.ReturnUrlParameter = "returnUrl";
            cookie.ExpireTimeSpan = TimeSpan.FromHours(sessionHours);
            cookie.SlidingExpiration = true;
            cookie.Events = new CookieAuthenticationEvents { OnValidatePrincipal = ConsoleSession.ValidateAsync };
        });
        services.AddAuthorization(authorization =>
            authorization.AddPolicy(ConsoleSession.AdminPolicy, policy => policy.RequireRole("admin")));
        services.AddAntiforgery(antiforgery =>
        {
            antiforgery.Cookie.Name = "tokenpool_antiforgery";
            antiforgery.Cookie.Path = "/console";
            antiforgery.Cookie.HttpOnly = true;
            antiforgery.Cookie.SameSite = SameSiteMode.Strict;
            antiforgery.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            antiforgery.FormFieldName = "__RequestVerificationToken";
            antiforgery.HeaderName = "X-CSRF-TOKEN";
        });
        services.AddRazorPages(pages =>
        {
            pages.RootDirectory = "/Console/Pages";
            pages.Conventions.AuthorizeFolder("/");
            pages.Conventions.AllowAnonymousToPage("/SignIn");
            pages.Conventions.AllowAnonymousToPage("/SignUp");
            pages.Conventions.AllowAnonymousToPage("/SignInCode");
            pages.Conventions.AllowAnonymousToPage("/ForgotPassword");
            pages.Conventions.AllowAnonymousToPage("/ResetPassword");
            pages.Conventions.AllowAnonymousToPage("/VerifyEmail");
            pages.Conventions.AllowAnonymousToPage("/Forbidden");
            pages.Conventions.AuthorizeFolder("/Admin", ConsoleSession.AdminPolicy);
        });
        return services;
    }

    public static WebApplication MapConsole(this WebApplication app)
    {
        app.Use(static (context, next) => context.Request.Path.StartsWithSegments("/console") ? WithConsoleHeadersAsync(context, next) : next(context));
        app.MapGet("/console", (HttpContext context) =>
            Results.Redirect(context.User.Identity?.IsAuthenticated == true ? "/console/api-keys" : "/console/sign-in"));
        app.MapGet("/console/assets/{name}", ServeAsset);
        app.MapRazorPages();
        return app;
    }

    /// <summary>Security headers on every console response, and the console's own page for a 404.</summary>
    private static async Task WithConsoleHeadersAsync(HttpContext context, RequestDelegate next)
    {
        var headers = context.Response.Headers;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-cache, no-store";
        headers.Pragma = "no-cache";
        headers.ContentSecurityPolicy =
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        await next(context);
        if (context.Response.StatusCode == StatusCodes.Status404NotFound && !context.Response.HasStarted)
        {
            context.Response.ContentType = "text/html; charset=utf-8";
            await context.Response.WriteAsync(NotFoundPage, context.RequestAborted);
        }
    }

    private const string NotFoundPage =
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        + "<title>Not found · TokenPool console</title><link rel=\"stylesheet\" href=\"/console/assets/console.css\"></head>"
        + "<body><main><div class=\"card narrow\"><h1>Not found</h1><p>There is nothing here, or it is not yours.</p>"
        + "<p><a href=\"/console/api-keys\">Back to your API keys</a></p></div></main></body></html>";

    private static IResult ServeAsset(string name, HttpContext context)
    {
        var type = Path.GetExtension(name) switch
        {
            ".css" => "text/css; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            _ => null,
        };
        var stream = type is null ? null : typeof(ConsoleSetup).Assembly.GetManifestResourceStream("TokenPool.WebConsole.Assets." + name);
        if (stream is null)
        {
            return Results.NotFound();
        }

        context.Response.Headers.CacheControl = "public, max-age=3600";
        return Results.Stream(stream, type);
    }
}
