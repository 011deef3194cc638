using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Hosting;
using TokenPool.Keys;
using TokenPool.Upstreams;

namespace TokenPool.Cli;

/// <summary>
/// The services an operator verb needs, on the same store as the server (chosen by <c>--data</c> or
/// <c>TOKENPOOL_DATA</c>, and <c>--database</c> or <c>TOKENPOOL_DATABASE</c>). Changes are written with a change-log
/// entry, so a running server picks them up within a second.
/// </summary>
internal sealed class CliStore : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private CliStore(ServiceProvider services, IReadOnlyList<string> applied)
    {
        _services = services;
        AppliedMigrations = applied;
    }

    /// <summary>The migrations opening the store applied.</summary>
    public IReadOnlyList<string> AppliedMigrations { get; }

    public T Get<T>()
        where T : notnull => _services.GetRequiredService<T>();

    public static Task<CliStore> OpenAsync(string? dataFlag, CancellationToken cancellationToken) =>
        OpenAsync(new StoreFlags(dataFlag, null, null, null), cancellationToken);

    /// <summary>Opens the store the flags (and the environment and configuration) name, migrating it first.</summary>
    public static async Task<CliStore> OpenAsync(StoreFlags flags, CancellationToken cancellationToken)
    {
        var dataDirectory = TokenPoolConfiguration.ResolveDataDirectory(flags.Data);
        var configuration = new ConfigurationBuilder().AddTokenPoolSources(dataDirectory, flags.Overrides()).Build();
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
        try
        {
            return new CliStore(provider, await provider.InitializeStoreAsync(cancellationToken));
        }
        catch
        {
            await provider.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
