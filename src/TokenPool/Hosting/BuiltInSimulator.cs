using TokenPool.Billing;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.Hosting;

/// <summary>
/// Runs the simulated upstream beside the server when no real channel is configured, so that a
/// newcomer's first <c>codex exec</c> works offline. It serves every model in the catalogue, answers
/// are labelled as simulated (in their text and in an <c>x-tokenpool-upstream: simulated</c> header),
/// and it stops being used as soon as an operator adds a channel.
/// </summary>
internal sealed partial class BuiltInSimulator(UpstreamPool pool, PriceCatalog prices, ILogger<BuiltInSimulator> logger) : IAsyncDisposable
{
    private SimulatorHost? _host;

    public bool IsRunning => _host is not null;

    public async Task StartIfNoChannelsAsync(CancellationToken cancellationToken)
    {
        if (pool.Snapshot.Channels.Count > 0 || _host is not null)
        {
            return;
        }

        var models = prices.All.Keys.Order(StringComparer.Ordinal).ToList();
        _host = await SimulatorHost.StartAsync(new SimulatorOptions { Urls = "http://127.0.0.1:0", ApiKey = "simulated", Models = models }, cancellationToken);
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
