using TokenPool.Billing;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.Hosting;

/// <summary>
/// Runs the simulated upstream beside the server when no real channel is configured, so that a
/// newcomer's first <c>codex exec</c> (or OpenCode, or Claude Code) works offline. It serves every model
/// in the catalogue on every API (Responses, Chat Completions, Messages), answers are labelled as
/// simulated (in their text and in the <c>x-tokenpool-upstream: simulated</c> header it sends), and it
/// stops being used as soon as an operator adds a channel. Its request log is not served at all: tests
/// read <see cref="Host"/>'s requests in process.
/// </summary>
internal sealed partial class BuiltInSimulator(UpstreamPool pool, PriceCatalog prices, ILogger<BuiltInSimulator> logger) : IAsyncDisposable
{
    private SimulatorHost? _host;

    public bool IsRunning => _host is not null;

    /// <summary>The running simulator, for tests that read what it received; null until it starts.</summary>
    internal SimulatorHost? Host => _host;

    public async Task StartIfNoChannelsAsync(CancellationToken cancellationToken)
    {
        if (pool.Snapshot.Channels.Count > 0 || _host is not null)
        {
            return;
        }

        var models = prices.All.Keys.Order(StringComparer.Ordinal).ToList();
        _host = await SimulatorHost.StartAsync(new SimulatorOptions { Urls = "http://127.0.0.1:0", ApiKey = "simulated", Models = models, Flavor = SimulatorFlavor.AllApis }, cancellationToken);
        pool.UseBuiltInSimulator(_host.BaseUrl, models);
        await pool.LoadAsync(cancellationToken);
        LogSimulated(logger, _host.BaseUrl);
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    [LoggerMessage(EventId = 6001, Level = LogLevel.Warning,
        Message = "No upstream channel is configured: serving every model through the built-in SIMULATED upstream at {Address}. Answers do not come from a real model. Add a channel with `tokenpool channel add`.")]
    private static partial void LogSimulated(ILogger logger, string address);
}
