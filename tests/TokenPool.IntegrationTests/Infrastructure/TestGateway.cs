using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Hosting;
using TokenPool.Keys;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Infrastructure;

/// <summary>How a test wants its gateway: which simulated upstreams and settings.</summary>
internal sealed class TestGatewayOptions
{
    /// <summary>Simulated upstream channels to start, each with its own upstream key. One by default.</summary>
    public int Channels { get; set; } = 1;

    /// <summary>The wire API each simulated channel speaks.</summary>
    public WireApi Wire { get; set; } = WireApi.Responses;

    /// <summary>Use the built-in simulator that <c>tokenpool serve</c> starts when no channel exists.</summary>
    public bool BuiltInSimulator { get; set; }

    public Dictionary<string, string?> Settings { get; } = [];
}

/// <summary>
/// A real TokenPool server on Kestrel, bound to a free loopback port, with its own temporary data
/// directory and simulated upstreams, as <c>tokenpool serve</c> runs it.
/// </summary>
internal sealed class TestGateway : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<SimulatorHost> _upstreams;
    private bool _stopped;

    private TestGateway(WebApplication app, string dataDirectory, List<SimulatorHost> upstreams, List<string> upstreamKeys, CapturedLogs logs, Uri address)
    {
        _app = app;
        DataDirectory = dataDirectory;
        _upstreams = upstreams;
        UpstreamKeys = upstreamKeys;
        Logs = logs;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri Address { get; }

    public string DataDirectory { get; }

    public HttpClient Client { get; }

    public CapturedLogs Logs { get; }

    public IReadOnlyList<SimulatorHost> Upstreams => _upstreams;

    public IReadOnlyList<string> UpstreamKeys { get; }

    public IServiceProvider Services => _app.Services;

    public T Get<T>()
        where T : notnull => _app.Services.GetRequiredService<T>();

    public static async Task<TestGateway> StartAsync(Action<TestGatewayOptions>? configure = null)
    {
        var options = new TestGatewayOptions();
        configure?.Invoke(options);
        var dataDirectory = Directory.CreateTempSubdirectory("tokenpool-test-").FullName;
        var logs = new CapturedLogs();
        var upstreams = new List<SimulatorHost>();
        var upstreamKeys = new List<string>();
        var models = PriceCatalog.Defaults.Select(p => p.Model).ToList();
        if (!options.BuiltInSimulator)
        {
            for (var i = 0; i < options.Channels; i++)
            {
                var key = "sk-upstream-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
                upstreamKeys.Add(key);
                upstreams.Add(await SimulatorHost.StartAsync(new SimulatorOptions { ApiKey = key, Models = models }));
            }
        }

        var app = TokenPoolServer.Build(new ServeSettings("http://127.0.0.1:0", dataDirectory)
        {
            Overrides = options.Settings,
            Customize = builder => builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug),
        });
        await app.Services.InitializeStoreAsync(CancellationToken.None);
        var channels = app.Services.GetRequiredService<ChannelService>();
        for (var i = 0; i < upstreams.Count; i++)
        {
            await channels.AddAsync(new ChannelSettings($"sim-{i + 1}", upstreams[i].BaseUrl, models, options.Wire), upstreamKeys[i], CancellationToken.None);
        }

        await app.PrepareAsync(CancellationToken.None);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestGateway(app, dataDirectory, upstreams, upstreamKeys, logs, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>Creates an account with the given credit and returns it.</summary>
    public async Task<Account> CreateUserAsync(decimal creditUsd = 10m, string? email = null, AccountRole role = AccountRole.User)
    {
        email ??= $"user-{Guid.NewGuid():N}@example.com";
        return await Get<AccountService>().CreateAsync(email, "correct horse battery staple", role, Money.FromDollars(creditUsd), CancellationToken.None);
    }

    /// <summary>Creates an account with credit and a key for it; returns the full key.</summary>
    public async Task<string> CreateKeyAsync(decimal creditUsd = 10m, NewKeySettings? settings = null)
    {
        var account = await CreateUserAsync(creditUsd);
        return (await Get<ApiKeyService>().CreateAsync(account.Id, settings ?? new NewKeySettings("test"), null, CancellationToken.None)).Key;
    }

    /// <summary>A client that sends the key as a bearer token.</summary>
    public HttpClient ClientWithKey(string key)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>Waits until every usage record queued so far is written.</summary>
    public Task FlushUsageAsync() => Get<UsageWriter>().FlushAsync();

    /// <summary>The store's connection string, for reading the database directly.</summary>
    public string ConnectionString => Get<Database>().ConnectionString;

    /// <summary>
    /// Checks the money invariant (see <see cref="MoneyInvariant"/>) after writing every queued usage record;
    /// fails the test with every violation found.
    /// </summary>
    public async Task AssertMoneyInvariantAsync(bool expectNoOpenReservations = true)
    {
        if (!_stopped)
        {
            await FlushUsageAsync();
        }

        var problems = await MoneyInvariant.CheckAsync(ConnectionString, Get<QuotaLedger>().OverdraftMicros, expectNoOpenReservations, CancellationToken.None);
        Assert.True(problems.Count == 0, "Money invariant violated:\n" + string.Join('\n', problems));
    }

    /// <summary>Stops the server as a normal shutdown does (requests drained, usage records written), keeping its data.</summary>
    public async Task StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            await _app.StopAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await StopAsync();
        await _app.DisposeAsync();
        foreach (var upstream in _upstreams)
        {
            await upstream.DisposeAsync();
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open is left to the OS temp cleaner.
        }
    }
}
