using Microsoft.Extensions.DependencyInjection.Extensions;

namespace TokenPool.Hosting;

/// <summary>
/// Where settings come from, lowest to highest precedence: built-in defaults, <c>appsettings.json</c>
/// beside the program, <c>tokenpool.json</c> in the data directory, <c>TOKENPOOL_*</c> environment
/// variables (<c>TOKENPOOL_Hosts__ApiHosts__0=api.example.com</c>), and command-line flags.
/// <c>TOKENPOOL_DATA</c> and <c>--data</c> choose the data directory; <c>TOKENPOOL_DATABASE</c> and <c>--database</c> the
/// database (<c>Store:Database</c>), <c>TOKENPOOL_SECRETS</c> and <c>--secrets</c> the secrets folder
/// (<c>Store:SecretsDirectory</c>), <c>TOKENPOOL_REDIS</c> and <c>--redis</c> the Redis server (<c>Store:Redis</c>).
/// </summary>
internal static class TokenPoolConfiguration
{
    public const string DataEnvironmentVariable = "TOKENPOOL_DATA";

    /// <summary>The short environment variables an operator sets, and the settings they stand for.</summary>
    private static readonly (string Variable, string Setting)[] ShortVariables =
    [
        ("TOKENPOOL_DATABASE", "Store:Database"),
        ("TOKENPOOL_SECRETS", "Store:SecretsDirectory"),
        ("TOKENPOOL_REDIS", "Store:Redis"),
    ];

    public static string ResolveDataDirectory(string? flag)
    {
        var chosen = flag ?? Environment.GetEnvironmentVariable(DataEnvironmentVariable);
        return Path.GetFullPath(string.IsNullOrWhiteSpace(chosen) ? "data" : chosen);
    }

    public static IConfigurationBuilder AddTokenPoolSources(this IConfigurationBuilder builder, string dataDirectory, IDictionary<string, string?>? overrides = null)
    {
        builder.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false);
        builder.AddJsonFile(Path.Combine(dataDirectory, "tokenpool.json"), optional: true, reloadOnChange: false);
        builder.AddEnvironmentVariables("TOKENPOOL_");
        var fromVariables = ShortVariables
            .Select(v => (v.Setting, Value: Environment.GetEnvironmentVariable(v.Variable)))
            .Where(v => !string.IsNullOrWhiteSpace(v.Value))
            .ToDictionary(v => v.Setting, v => v.Value);
        builder.AddInMemoryCollection(fromVariables);
        var settings = new Dictionary<string, string?>(overrides ?? new Dictionary<string, string?>())
        {
            ["Store:DataDirectory"] = dataDirectory,
        };
        builder.AddInMemoryCollection(settings);
        return builder;
    }

    public static ILoggingBuilder AddTokenPoolLogging(this ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.Services.TryAddEnumerable(ServiceDescriptor.Singleton<ILoggerProvider, BatchedConsoleLoggerProvider>());

        // Logging:Console (e.g. FormatterName=json, or TOKENPOOL_Logging__Console__FormatterName=json) configures it.
        Microsoft.Extensions.Logging.Configuration.LoggingBuilderConfigurationExtensions.AddConfiguration(logging);
        Microsoft.Extensions.Logging.Configuration.LoggerProviderOptions.RegisterProviderOptions<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions, BatchedConsoleLoggerProvider>(logging.Services);

        // Framework logs stay at warnings: request lines can carry query strings, and EF Core logs SQL.
        logging.AddFilter("Microsoft", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
        logging.AddFilter("System.Net.Http", LogLevel.Warning);

        // ASP.NET Core starts a tracing Activity for every request whenever this category logs at any level. Its
        // messages are request lines (Information) that TokenPool's own request log replaces; a failure to start is
        // reported by TokenPool itself.
        logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None);
        return logging;
    }
}
