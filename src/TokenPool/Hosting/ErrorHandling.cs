using Microsoft.AspNetCore.Diagnostics;
using TokenPool.Gateway;

namespace TokenPool.Hosting;

internal static partial class ErrorHandling
{
    /// <summary>
    /// An unexpected exception becomes a clear answer, never a stack trace: JSON in OpenAI's envelope on
    /// API paths, a short page elsewhere. The exception itself goes to the log with the request id.
    /// </summary>
    public static WebApplication UseTokenPoolErrors(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = async context =>
            {
                var feature = context.Features.Get<IExceptionHandlerPathFeature>();
                var requestId = context.TraceIdentifier;
                if (feature?.Error is { } error)
                {
                    LogUnhandled(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("TokenPool.Errors"), requestId, error);
                }

                if (IsApiPath(context.Request.Path))
                {
                    await (Gateway.Dialects.ApiTable.ForPath(context.Request.Path) ?? Gateway.Dialects.ApiTable.Dialects[0])
                        .WriteErrorAsync(context, GatewayErrors.Internal(requestId));
                    return;
                }

                context.Response.StatusCode = 500;
                context.Response.ContentType = "text/html; charset=utf-8";
                await context.Response.WriteAsync(
                    $"<!doctype html><title>Something went wrong</title><h1>Something went wrong</h1><p>TokenPool hit an unexpected error. Please try again. Reference: {System.Net.WebUtility.HtmlEncode(requestId)}</p>");
            },
        });
        return app;
    }

    public static bool IsApiPath(PathString path) => Gateway.Dialects.ApiTable.IsApiPath(path);

    [LoggerMessage(EventId = 9001, Level = LogLevel.Error, Message = "Unhandled error for request {RequestId}")]
    private static partial void LogUnhandled(ILogger logger, string requestId, Exception exception);
}
