using Microsoft.EntityFrameworkCore;
using TokenPool.Data;

namespace TokenPool.Hosting;

internal static class HealthEndpoints
{
    /// <summary><c>/healthz</c>: the process answers. <c>/readyz</c>: it can reach its database and is not stopping.</summary>
    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapGet("/readyz", async (IDbContextFactory<TokenPoolDb> dbFactory, Gateway.GatewayDrain drain, CancellationToken cancellationToken) =>
        {
            if (drain.Draining)
            {
                return Results.Text("stopping", statusCode: 503);
            }

            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            return await db.Database.CanConnectAsync(cancellationToken) ? Results.Text("ready") : Results.Text("database unreachable", statusCode: 503);
        });
        return app;
    }
}
