using System.Diagnostics;
using System.Net;
using Yarp.ReverseProxy.Forwarder;

namespace TokenPool.Bench;

/// <summary>
/// The reference: a plain reverse proxy on the same runtime. IHttpForwarder, one shared invoker, no auth,
/// no metering, no logging. <c>x-bench-mode: paced|slow|warm</c> goes to the paced upstream, the rest to the fixed one.
/// </summary>
internal static class PlainYarp
{
    public static async Task<int> RunAsync(Args args)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(args.Require("urls"));
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxConcurrentConnections = null);
        builder.Services.AddHttpForwarder();
        var app = builder.Build();
        var fixedUpstream = args.Require("fixed");
        var pacedUpstream = args.Require("paced");
        var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
        var invoker = new HttpMessageInvoker(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
            ConnectTimeout = TimeSpan.FromSeconds(15),
            EnableMultipleHttp2Connections = true,
        });
        var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromMinutes(10) };
        app.MapGet("/ready", () => "ok");
        app.Map("/{**path}", async context =>
        {
            var mode = context.Request.Headers[Canned.ModeHeader].ToString();
            var destination = mode is "paced" or "slow" or "warm" ? pacedUpstream : fixedUpstream;
            var error = await forwarder.SendAsync(context, destination, invoker, config, HttpTransformer.Empty);
            if (error != ForwarderError.None)
            {
                Trace.TraceWarning("forward failed: {0}", error);
            }
        });
        await app.RunAsync();
        return 0;
    }
}
