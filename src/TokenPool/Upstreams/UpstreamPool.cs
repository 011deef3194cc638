using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Net;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TokenPool.Data;
using TokenPool.Gateway.Relay;
using TokenPool.Gateway.Translation;
using TokenPool.Keys;

namespace TokenPool.Upstreams;

/// <summary>A channel as the gateway uses it: an immutable snapshot with its HTTP client.</summary>
internal sealed class ChannelRuntime
{
    public required long Id { get; init; }

    public required string Name { get; init; }

    /// <summary>The API root with a trailing slash, so that relative paths append to it.</summary>
    public required Uri BaseUri { get; init; }

    /// <summary>The wire APIs the upstream itself serves.</summary>
    public required WireSet Wire { get; init; }

    public required int Priority { get; init; }

    public required int Weight { get; init; }

    public required FrozenDictionary<string, string> Aliases { get; init; }

    public required HttpMessageInvoker Invoker { get; init; }

    public required TimeSpan ResponseHeadersTimeout { get; init; }

    public required TimeSpan StreamIdleTimeout { get; init; }

    public required TimeSpan TotalTimeout { get; init; }

    public bool IsBuiltInSimulator { get; init; }

    private readonly Uri?[] _uris = new Uri?[WireSet.Known.Count];

    /// <summary>Where this channel serves an API: its base URL and the API's path (made once per API).</summary>
    public Uri UriFor(Gateway.Dialects.Dialect dialect)
    {
        var index = (int)dialect.Api;
        return Volatile.Read(ref _uris[index]) ?? (_uris[index] = new Uri(BaseUri, dialect.Path));
    }

    public string UpstreamModel(string model) => Aliases.GetValueOrDefault(model, model);
}

/// <summary>One upstream key of one channel: the unit that is picked, retried, cooled down and health-checked.</summary>
internal sealed class UpstreamTarget
{
    public required ChannelRuntime Channel { get; init; }

    public required long KeyId { get; init; }

    public required string Secret { get; init; }

    /// <summary>The Authorization header value sent upstream.</summary>
    public string Authorization => field ??= "Bearer " + Secret;

    public required double Weight { get; init; }

    public required KeyHealth Health { get; init; }

    /// <summary>Whether the channel serves the API itself, so a request in it passes through untranslated.</summary>
    public bool Serves(ApiKind api) => Channel.Wire.Contains(api);

    /// <summary>
    /// The API a request in <paramref name="client"/>'s API goes upstream in: the client's own when the channel
    /// serves it, else the first the channel serves that a bridge carries it to; null when neither.
    /// </summary>
    public ApiKind? UpstreamApiFor(ApiKind client, BridgeSource bridges)
    {
        if (Channel.Wire.Contains(client))
        {
            return client;
        }

        foreach (var api in Channel.Wire.Apis)
        {
            if (bridges.Find(client, api) is not null)
            {
                return api;
            }
        }

        return null;
    }

    public override string ToString() => $"{Channel.Name}#{KeyId}";
}

/// <summary>The targets that serve one model, grouped by channel priority (highest first).</summary>
internal sealed class ModelRoute(string model, UpstreamTarget[][] groups)
{
    public string Model { get; } = model;

    public UpstreamTarget[][] Groups { get; } = groups;

    public IEnumerable<UpstreamTarget> All => Groups.SelectMany(g => g);

    /// <summary>The longest total timeout of the channels that serve the model: how long a request may run at most.</summary>
    public TimeSpan LongestTotalTimeout { get; } = groups.SelectMany(g => g).Select(t => t.Channel.TotalTimeout).DefaultIfEmpty(TimeSpan.Zero).Max();

    /// <summary>Whether some target can carry a request in the client's API: natively, or over a bridge.</summary>
    public bool CanCarry(ApiKind api, BridgeSource bridges) => All.Any(t => t.UpstreamApiFor(api, bridges) is not null);

    /// <summary>The APIs the model's channels serve themselves, for telling a client which to use instead.</summary>
    public IReadOnlyCollection<ApiKind> ServedApis => [.. WireSet.Known.Where(api => All.Any(t => t.Serves(api)))];
}

/// <summary>An immutable view of the pool, swapped atomically when the configuration changes.</summary>
internal sealed class PoolSnapshot(FrozenDictionary<string, ModelRoute> routes, IReadOnlyList<ChannelRuntime> channels)
{
    public static readonly PoolSnapshot Empty = new(FrozenDictionary<string, ModelRoute>.Empty, []);

    public FrozenDictionary<string, ModelRoute> Routes { get; } = routes;

    public IReadOnlyList<ChannelRuntime> Channels { get; } = channels;

    public ModelRoute? Route(string model) => Routes.GetValueOrDefault(model);

    public bool UsesSimulator => Channels.Count > 0 && Channels.All(c => c.IsBuiltInSimulator);
}

/// <summary>
/// The pool of upstream channels and keys. Reloads from the database when the change log reports a
/// channel change (so a change from the console or the CLI reaches every instance within two seconds),
/// without disturbing requests in flight: they keep the snapshot, HTTP client and health they started with.
/// </summary>
internal sealed partial class UpstreamPool(
    IDbContextFactory<TokenPoolDb> dbFactory,
    KeySecrets secrets,
    IOptions<UpstreamOptions> options,
    ILogger<UpstreamPool> logger) : IChangeListener, IDisposable
{
    private readonly UpstreamOptions _options = options.Value;
    private readonly ConcurrentDictionary<long, KeyHealth> _health = new();
    private readonly ConcurrentDictionary<(string Authority, int ConnectSeconds), HttpMessageInvoker> _invokers = new();
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private volatile PoolSnapshot _snapshot = PoolSnapshot.Empty;
    private IReadOnlyList<ChannelRuntime> _builtIn = [];

    public PoolSnapshot Snapshot => _snapshot;

    public UpstreamOptions Options => _options;

    public KeyHealth Health(long keyId) => _health.GetOrAdd(keyId, id => new KeyHealth(id, _options));

    public IReadOnlyDictionary<long, KeyHealth> AllHealth => _health;

    /// <summary>
    /// Serves every catalogued model through the built-in simulated upstream at <paramref name="baseUrl"/>,
    /// used while no real channel is configured.
    /// </summary>
    public void UseBuiltInSimulator(string baseUrl, IEnumerable<string> models)
    {
        _builtIn =
        [
            Runtime(new Channel { Id = 0, Name = "simulated-upstream", BaseUrl = baseUrl, Models = string.Join(',', models) }, isSimulator: true),
        ];
    }

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        await _reloadLock.WaitAsync(cancellationToken);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            var channels = await db.Channels.AsNoTracking().Include(c => c.Keys).Where(c => c.IsEnabled).ToListAsync(cancellationToken);
            var runtimes = new List<ChannelRuntime>();
            var targets = new List<(string Model, UpstreamTarget Target)>();
            foreach (var channel in channels)
            {
                var runtime = Runtime(channel, isSimulator: false);
                runtimes.Add(runtime);
                var keys = channel.Keys.Where(k => k.IsEnabled).ToList();
                var keyWeightSum = keys.Sum(k => Math.Max(1, k.Weight));
                foreach (var key in keys)
                {
                    string secret;
                    try
                    {
                        secret = secrets.UnprotectUpstreamKey(key.ProtectedKey);
                    }
                    catch (CryptographicException)
                    {
                        LogKeyUnreadable(logger, channel.Name, key.Id);
                        continue;
                    }

                    var target = new UpstreamTarget
                    {
                        Channel = runtime,
                        KeyId = key.Id,
                        Secret = secret,
                        Weight = Math.Max(1, channel.Weight) * (double)Math.Max(1, key.Weight) / keyWeightSum,
                        Health = Health(key.Id),
                    };

                    // Enabled in the store (again): a rejection seen earlier on this instance no longer holds.
                    target.Health.Enable();
                    foreach (var model in SplitList(channel.Models))
                    {
                        targets.Add((model, target));
                    }
                }
            }

            if (runtimes.Count == 0)
            {
                runtimes.AddRange(_builtIn);
                foreach (var builtIn in _builtIn)
                {
                    var target = new UpstreamTarget { Channel = builtIn, KeyId = 0, Secret = "simulated", Weight = 1, Health = Health(0) };
                    targets.AddRange(builtIn.Aliases.Keys.Select(m => (m, target)));
                }
            }

            var routes = targets
                .GroupBy(t => t.Model, StringComparer.Ordinal)
                .ToFrozenDictionary(
                    g => g.Key,
                    g => new ModelRoute(g.Key, [.. g.Select(t => t.Target).GroupBy(t => t.Channel.Priority).OrderByDescending(p => p.Key).Select(p => p.ToArray())]),
                    StringComparer.Ordinal);
            _snapshot = new PoolSnapshot(routes, runtimes);

            // Forget the health of keys that were removed, so it does not pile up over months of key rotation.
            var keyIds = (await db.ChannelKeys.Select(k => k.Id).ToListAsync(cancellationToken)).ToHashSet();
            foreach (var keyId in _health.Keys)
            {
                if (keyId != 0 && !keyIds.Contains(keyId))
                {
                    _health.TryRemove(keyId, out _);
                }
            }
            LogPoolLoaded(logger, runtimes.Count, routes.Count);
        }
        finally
        {
            _reloadLock.Release();
        }
    }

    /// <summary>
    /// Takes a key out of rotation because its upstream rejected it (invalid, revoked, out of credit), on
    /// this instance at once and, through the database and the change log, on every other.
    /// </summary>
    public async Task DisableKeyAsync(UpstreamTarget target, string reason, UpstreamError? error = null)
    {
        target.Health.Disable(reason, error ?? new UpstreamError(0, null, reason), Environment.TickCount64);
        if (target.Channel.IsBuiltInSimulator)
        {
            return;
        }

        LogKeyDisabled(logger, target.Channel.Name, target.KeyId, reason);
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync();
            var now = DateTime.UtcNow;
            await db.ChannelKeys.Where(k => k.Id == target.KeyId && k.IsEnabled)
                .ExecuteUpdateAsync(s => s.SetProperty(k => k.IsEnabled, false).SetProperty(k => k.DisabledReason, reason).SetProperty(k => k.DisabledAt, now));
            ChangeFeed.Record(db, ChangeKinds.Channel, target.Channel.Id);
            await db.SaveChangesAsync();
        }
        catch (Exception ex)
        {
            LogKeyDisableFailed(logger, target.KeyId, ex);
        }
    }

    public void OnChanged(IReadOnlyList<ChangeLogEntry> changes)
    {
        if (changes.Any(c => c.Kind == ChangeKinds.Channel))
        {
            LoadAsync(CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    public static IEnumerable<string> SplitList(string? list) =>
        string.IsNullOrWhiteSpace(list) ? [] : list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static FrozenDictionary<string, string> ParseAliases(string? aliases) =>
        SplitList(aliases)
            .Select(pair => pair.Split('=', 2, StringSplitOptions.TrimEntries))
            .Where(parts => parts.Length == 2 && parts[0].Length > 0 && parts[1].Length > 0)
            .GroupBy(parts => parts[0], StringComparer.Ordinal)
            .ToFrozenDictionary(g => g.Key, g => g.Last()[1], StringComparer.Ordinal);

    public void Dispose()
    {
        foreach (var invoker in _invokers.Values)
        {
            invoker.Dispose();
        }

        _reloadLock.Dispose();
    }

    private ChannelRuntime Runtime(Channel channel, bool isSimulator)
    {
        var baseUrl = channel.BaseUrl.TrimEnd('/') + "/";
        var baseUri = new Uri(baseUrl, UriKind.Absolute);
        var connect = channel.ConnectTimeoutSeconds ?? _options.ConnectTimeoutSeconds;
        var invoker = _invokers.GetOrAdd((baseUri.GetLeftPart(UriPartial.Authority), connect), key => CreateInvoker(key.ConnectSeconds));
        var aliases = ParseAliases(channel.ModelAliases);
        if (isSimulator)
        {
            aliases = SplitList(channel.Models).ToFrozenDictionary(m => m, m => m, StringComparer.Ordinal);
        }

        return new ChannelRuntime
        {
            Id = channel.Id,
            Name = channel.Name,
            BaseUri = baseUri,
            Wire = channel.Wire,
            Priority = channel.Priority,
            Weight = Math.Max(1, channel.Weight),
            Aliases = aliases,
            Invoker = invoker,
            ResponseHeadersTimeout = TimeSpan.FromSeconds(channel.ResponseHeadersTimeoutSeconds ?? _options.ResponseHeadersTimeoutSeconds),
            StreamIdleTimeout = TimeSpan.FromSeconds(channel.StreamIdleTimeoutSeconds ?? _options.StreamIdleTimeoutSeconds),
            TotalTimeout = TimeSpan.FromSeconds(channel.TotalTimeoutSeconds ?? _options.TotalTimeoutSeconds),
            IsBuiltInSimulator = isSimulator,
        };
    }

    private HttpMessageInvoker CreateInvoker(int connectSeconds) => new(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(connectSeconds),
        UseProxy = _options.UseSystemProxy,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        UseCookies = false,
        EnableMultipleHttp2Connections = true,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(_options.IdleConnectionSeconds),
        PooledConnectionLifetime = TimeSpan.FromMinutes(10),
        ActivityHeadersPropagator = null,

        // An answer abandoned half-read (the client went away) must close the upstream connection at
        // once, so the upstream stops generating; draining it to reuse the connection would take seconds.
        MaxResponseDrainSize = 0,
    }, disposeHandler: true);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Upstream pool loaded: {Channels} channels, {Models} models")]
    private static partial void LogPoolLoaded(ILogger logger, int channels, int models);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Upstream key {KeyId} of channel {Channel} disabled: {Reason}")]
    private static partial void LogKeyDisabled(ILogger logger, string channel, long keyId, string reason);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Saving that upstream key {KeyId} is disabled failed")]
    private static partial void LogKeyDisableFailed(ILogger logger, long keyId, Exception exception);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Error, Message = "The upstream key {KeyId} of channel {Channel} cannot be decrypted with this deployment's data-protection keys; it is skipped")]
    private static partial void LogKeyUnreadable(ILogger logger, string channel, long keyId);
}
