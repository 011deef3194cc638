using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Hosting;
using TokenPool.Keys;
using TokenPool.Upstreams;

namespace TokenPool.Cli;

/// <summary>
/// The services an operator verb needs, on the same store as the server (chosen by <c>--data</c> or
/// <c>TOKENPOOL_DATA</c>). Changes are written with a change-log entry, so a running server picks them
/// up within a second.
/// </summary>
internal sealed class CliStore : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private CliStore(ServiceProvider services) => _services = services;

    public T Get<T>()
        where T : notnull => _services.GetRequiredService<T>();

    public static async Task<CliStore> OpenAsync(string? dataFlag, CancellationToken cancellationToken)
    {
        var dataDirectory = TokenPoolConfiguration.ResolveDataDirectory(dataFlag);
        var configuration = new ConfigurationBuilder().AddTokenPoolSources(dataDirectory).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(logging => logging.AddTokenPoolLogging().SetMinimumLevel(LogLevel.Warning));

        // Output on stdout is for the verb's answer alone (a new key, a JSON object); logs go to stderr.
        services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
        services
            .AddStore(configuration)
            .AddKeys()
            .AddAccounts(configuration)
            .AddBilling(configuration)
            .AddUpstreams(configuration);
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true });
        await provider.InitializeStoreAsync(cancellationToken);
        return new CliStore(provider);
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
