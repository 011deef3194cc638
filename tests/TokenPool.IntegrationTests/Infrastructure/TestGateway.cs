using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Gateway;
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

    /// <summary>The wire APIs each simulated channel serves (what OpenAI serves by default).</summary>
    public WireSet Wire { get; set; } = WireSet.OpenAi;

    /// <summary>Use the built-in simulator that <c>tokenpool serve</c> starts when no channel exists.</summary>
    public bool BuiltInSimulator { get; set; }

    /// <summary>Run the store on a database of its own in the test run's PostgreSQL server instead of SQLite.</summary>
    public bool Postgres { get; set; }

    public Dictionary<string, string?> Settings { get; } = [];

    /// <summary>Per-channel set-up; when empty, <see cref="Channels"/> default channels are made.</summary>
    public List<TestChannel> ChannelList { get; } = [];

    /// <summary>Extra set-up of the server's builder, applied after the gateway's own (e.g. an in-memory trace exporter).</summary>
    public Action<WebApplicationBuilder>? Customize { get; set; }
}

/// <summary>One simulated upstream channel as a test wants it.</summary>
internal sealed record TestChannel
{
    public int Priority { get; init; }

    public int Weight { get; init; } = 1;

    public string? ModelAliases { get; init; }

    /// <summary>Models the channel serves to clients; every catalogued model by default.</summary>
    public IReadOnlyList<string>? Models { get; init; }

    /// <summary>Extra model names the simulated upstream itself knows (alias targets).</summary>
    public IReadOnlyList<string> UpstreamModels { get; init; } = [];

    public FaultProfile Faults { get; init; } = FaultProfile.None;

    /// <summary>The real server the channel's simulated upstream imitates (OpenAI by default): vLLM, Ollama, DeepSeek, SGLang, Anthropic.</summary>
    public SimulatorFlavor Flavor { get; init; } = SimulatorFlavor.OpenAi;

    /// <summary>Behaviour for every request to this upstream that asks for none itself, e.g. <c>agent</c> (see <see cref="SimulatorFaults"/>).</summary>
    public string? SimulatorDefaults { get; init; }

    public WireSet? Wire { get; init; }

    /// <summary>Point the channel at a loopback port nothing listens on.</summary>
    public bool Unreachable { get; init; }

    public int? ResponseHeadersTimeoutSeconds { get; init; }

    public int? StreamIdleTimeoutSeconds { get; init; }

    public int? TotalTimeoutSeconds { get; init; }
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
        ChannelIds = [];
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

    /// <summary>The built-in simulator <c>serve</c> started (with <see cref="TestGatewayOptions.BuiltInSimulator"/>), read in process.</summary>
    public SimulatorHost? BuiltInUpstream => Get<BuiltInSimulator>().Host;

    public IReadOnlyList<string> UpstreamKeys { get; }

    /// <summary>The channel ids, in the order of <see cref="Upstreams"/>.</summary>
    public List<long> ChannelIds { get; private init; }

    /// <summary>The channel key ids, in the order of <see cref="Upstreams"/>.</summary>
    public List<long> ChannelKeyIds { get; } = [];

    public ChannelService Channels => Get<ChannelService>();

    public IServiceProvider Services => _app.Services;

    public T Get<T>()
        where T : notnull => _app.Services.GetRequiredService<T>();

    public static async Task<TestGateway> StartAsync(Action<TestGatewayOptions>? configure = null)
    {
        var options = new TestGatewayOptions();
        configure?.Invoke(options);
        var dataDirectory = Directory.CreateTempSubdirectory("tokenpool-test-").FullName;
        string? postgres = null;
        if (options.Postgres)
        {
            postgres = await TestPostgres.CreateDatabaseAsync("gateway");
            options.Settings["Store:Database"] = postgres;
        }

        var logs = new CapturedLogs();
        var upstreams = new List<SimulatorHost>();
        var upstreamKeys = new List<string>();
        var models = PriceCatalog.Defaults.Select(p => p.Model).ToList();
        var specs = options.ChannelList.Count > 0 ? options.ChannelList : [.. Enumerable.Range(0, options.Channels).Select(_ => new TestChannel())];
        if (options.BuiltInSimulator)
        {
            specs = [];
        }

        foreach (var spec in specs)
        {
            var key = "sk-upstream-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            upstreamKeys.Add(key);
            upstreams.Add(await SimulatorHost.StartAsync(new SimulatorOptions
            {
                ApiKey = key, Models = [.. models, .. spec.UpstreamModels], Faults = spec.Faults, Flavor = spec.Flavor, Defaults = spec.SimulatorDefaults,
            }));
        }

        // Every test browses from loopback: sign-ups are throttled per address only where a test asks for it.
        options.Settings.TryAdd("Accounts:MaxSignUpsPerAddress", "10000");
        options.Settings.TryAdd("Accounts:MaxSignUpsPerNetwork", "100000");
        var app = TokenPoolServer.Build(new ServeSettings("http://127.0.0.1:0", dataDirectory)
        {
            Overrides = options.Settings,
            Customize = builder =>
            {
                builder.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Debug);
                options.Customize?.Invoke(builder);
            },
        });
        await app.Services.InitializeStoreAsync(CancellationToken.None);
        var channels = app.Services.GetRequiredService<ChannelService>();
        var channelIds = new List<long>();
        var channelKeyIds = new List<long>();
        for (var i = 0; i < upstreams.Count; i++)
        {
            var spec = specs[i];
            var baseUrl = spec.Unreachable ? $"http://127.0.0.1:{FreePort()}/v1" : upstreams[i].BaseUrl;
            var channel = await channels.AddAsync(
                new ChannelSettings($"sim-{i + 1}", baseUrl, spec.Models ?? models, spec.Wire ?? options.Wire, spec.Priority, spec.Weight, spec.ModelAliases,
                    ResponseHeadersTimeoutSeconds: spec.ResponseHeadersTimeoutSeconds, StreamIdleTimeoutSeconds: spec.StreamIdleTimeoutSeconds,
                    TotalTimeoutSeconds: spec.TotalTimeoutSeconds),
                upstreamKeys[i],
                CancellationToken.None);
            channelIds.Add(channel.Id);
            channelKeyIds.Add(channel.Keys[0].Id);
        }

        await app.PrepareAsync(CancellationToken.None);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var gateway = new TestGateway(app, dataDirectory, upstreams, upstreamKeys, logs, new Uri(address.TrimEnd('/') + "/")) { ChannelIds = channelIds, PostgresDatabase = postgres };
        gateway.ChannelKeyIds.AddRange(channelKeyIds);
        return gateway;
    }

    /// <summary>A loopback port that nothing listens on (bound, then released).</summary>
    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>The usage records written so far, oldest first.</summary>
    public async Task<List<UsageRecord>> UsageRecordsAsync()
    {
        await FlushUsageAsync();
        await using var db = await Get<Microsoft.EntityFrameworkCore.IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        return await Microsoft.EntityFrameworkCore.EntityFrameworkQueryableExtensions.ToListAsync(db.UsageRecords.OrderBy(r => r.Id));
    }

    /// <summary>An account's balance in micro-dollars.</summary>
    public async Task<long> BalanceAsync(long accountId)
    {
        await FlushUsageAsync();
        await using var db = await Get<Microsoft.EntityFrameworkCore.IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        return db.Accounts.Where(a => a.Id == accountId).Select(a => a.BalanceMicros).First();
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

    /// <summary>Creates an account with credit and a key for it; returns both.</summary>
    public async Task<(Account Account, string Key)> CreateAccountKeyAsync(decimal creditUsd = 10m, NewKeySettings? settings = null)
    {
        var account = await CreateUserAsync(creditUsd);
        return (account, (await Get<ApiKeyService>().CreateAsync(account.Id, settings ?? new NewKeySettings("test"), null, CancellationToken.None)).Key);
    }

    /// <summary>A client that sends the key as a bearer token.</summary>
    public HttpClient ClientWithKey(string key)
    {
        // No draining of abandoned answers: a test that drops a response must close the connection at once.
        var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, MaxConnectionsPerServer = 256 })
        {
            BaseAddress = Address,
            Timeout = TimeSpan.FromSeconds(60),
        };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>
    /// Waits for the requests being handled to queue their usage records (a client can have read its whole answer
    /// a moment before), writes every queued record, then gives the leases' unused room back to the balances, as
    /// the gateway does by itself once keys are idle: afterwards balances read as if nothing were in flight.
    /// </summary>
    public async Task FlushUsageAsync()
    {
        var handler = Get<GatewayHandler>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (handler.InFlight > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(2);
        }

        await Get<UsageWriter>().FlushAsync();
        await Get<QuotaLedger>().ReturnAllUnusedAsync(CancellationToken.None);
    }

    /// <summary>The test run's PostgreSQL database this gateway's store is on, or null on SQLite; dropped on dispose.</summary>
    public string? PostgresDatabase { get; private init; }

    /// <summary>The store's engine and connection string, for reading the database directly.</summary>
    public StoreConnection Store => Get<StoreConnection>();

    /// <summary>The store's connection string, for reading the database directly.</summary>
    public string ConnectionString => Store.ConnectionString;

    /// <summary>Runs one statement on the store, whichever engine, and returns its first value as a whole number (0 for none).</summary>
    public async Task<long> ScalarAsync(string sql)
    {
        await using var db = await Get<Microsoft.EntityFrameworkCore.IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync();
        var connection = Microsoft.EntityFrameworkCore.RelationalDatabaseFacadeExtensions.GetDbConnection(db.Database);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync() is { } value and not DBNull ? Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

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

        var problems = await MoneyInvariant.CheckAsync(Store, Get<QuotaLedger>().OverdraftMicros, expectNoOpenReservations, CancellationToken.None);
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

        if (PostgresDatabase is not null)
        {
            await TestPostgres.DropDatabaseAsync(PostgresDatabase);
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
