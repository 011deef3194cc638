using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace TokenPool.Bench;

/// <summary>
/// A tiny Kestrel upstream for what nginx cannot do: <c>x-bench-mode: paced</c> sends 64 events 20 ms apart
/// (on absolute deadlines, so its own jitter does not accumulate); <c>slow</c> sends the first event, then a
/// delta a second until <c>POST /release</c>; anything else (no header, or <c>warm</c>) sends the fixed stream
/// (the fixed upstream when nginx is absent, and the warm-up before each paced stream).
/// </summary>
internal static class BenchUpstream
{
    public const int PacedEvents = 64;
    public const int PacedIntervalMs = 20;

    private static readonly byte[] FixedStream = Encoding.UTF8.GetBytes(Canned.Stream);

    private static TaskCompletionSource _release = NewRelease();

    public static async Task<int> RunAsync(Args args)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(args.Require("urls"));
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentConnections = null);
        var app = builder.Build();
        app.MapPost("/v1/responses", HandleAsync);
        app.MapPost("/release", () =>
        {
            Interlocked.Exchange(ref _release, NewRelease()).TrySetResult();
            return Results.Ok();
        });
        app.MapGet("/ready", () => "ok");
        await app.RunAsync();
        return 0;
    }

    private static async Task HandleAsync(HttpContext context)
    {
        var aborted = context.RequestAborted;
        await DrainAsync(context.Request.Body, aborted);
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var body = context.Response.Body;
        switch (context.Request.Headers[Canned.ModeHeader].ToString())
        {
            case "paced":
            {
                var start = Stopwatch.GetTimestamp();
                await WriteAsync(body, Canned.Created(Canned.PacedModel), aborted);
                for (var i = 1; i < PacedEvents; i++)
                {
                    var due = TimeSpan.FromMilliseconds(i * PacedIntervalMs) - Stopwatch.GetElapsedTime(start);
                    if (due > TimeSpan.Zero)
                    {
                        await Task.Delay(due, aborted);
                    }

                    await WriteAsync(body, i == PacedEvents - 1 ? Canned.Completed(Canned.PacedModel, i, i - 1) : Canned.Delta(i), aborted);
                }

                break;
            }

            case "slow":
            {
                var release = _release.Task;
                await WriteAsync(body, Canned.Created(Canned.PacedModel), aborted);
                var sequence = 1;
                while (!release.IsCompleted)
                {
                    await Task.WhenAny(release, Task.Delay(1000, aborted));
                    aborted.ThrowIfCancellationRequested();
                    await WriteAsync(body, Canned.Delta(sequence++), aborted);
                }

                await WriteAsync(body, Canned.Completed(Canned.PacedModel, sequence, sequence - 1), aborted);
                break;
            }

            default:
                await body.WriteAsync(FixedStream, aborted);
                break;
        }
    }

    private static async Task WriteAsync(Stream body, string text, CancellationToken cancellationToken)
    {
        await body.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        await body.FlushAsync(cancellationToken);
    }

    private static async Task DrainAsync(Stream body, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        while (await body.ReadAsync(buffer, cancellationToken) > 0)
        {
        }
    }

    private static TaskCompletionSource NewRelease() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
