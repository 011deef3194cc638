using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace TokenPool.Simulator;

/// <summary>Settings of one simulated upstream.</summary>
internal sealed record SimulatorOptions
{
    /// <summary>Where to listen, e.g. <c>http://127.0.0.1:0</c> (any free port).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:0";

    /// <summary>When set, only this key is accepted; other keys get 401 as from OpenAI.</summary>
    public string? ApiKey { get; init; }

    public IReadOnlyList<string> Models { get; init; } = [];

    public FaultProfile Faults { get; init; } = FaultProfile.None;
}

/// <summary>A request the simulator received, for tests that check what TokenPool sent upstream.</summary>
internal sealed record SimulatorRequest(DateTime At, string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body);

/// <summary>
/// The built-in simulated upstream: an OpenAI-compatible server that needs no account and no network.
/// It serves <c>/v1/responses</c>, <c>/v1/chat/completions</c> and <c>/v1/models</c> as OpenAI does,
/// streamed and not, and injects faults on request (see <see cref="SimulatorFaults"/>). It runs beside
/// TokenPool when no real channel is configured, as <c>tokenpool simulate</c>, and inside the tests.
/// </summary>
internal sealed class SimulatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SimulatorRequest> _requests = new();
    private readonly ConcurrentDictionary<string, bool> _cacheKeys = new();
    private readonly Random _random;
    private readonly Lock _randomLock = new();
    private long _responseCounter;
    private int _clientAborts;
    private long _totalRequests;
    private int _active;
    private int _maxActive;

    private SimulatorHost(WebApplication app, SimulatorOptions options)
    {
        _app = app;
        Options = options;
        FaultProfile = options.Faults;
        _random = new Random(options.Faults.Seed);
    }

    public SimulatorOptions Options { get; }

    /// <summary>Faults applied to a share of requests; can be changed while running.</summary>
    public FaultProfile FaultProfile { get; set; }

    /// <summary>The address it listens on, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Address { get; private set; } = "";

    /// <summary>The API root to give TokenPool as a channel's base URL.</summary>
    public string BaseUrl => Address + "/v1";

    public IReadOnlyList<SimulatorRequest> Requests => [.. _requests];

    public int RequestCount => _requests.Count;

    /// <summary>Every API request received since the start (<see cref="Requests"/> keeps only the latest).</summary>
    public long TotalRequests => Interlocked.Read(ref _totalRequests);

    /// <summary>Requests that TokenPool (the client of this upstream) abandoned before the simulator finished them.</summary>
    public int ClientAborts => Volatile.Read(ref _clientAborts);

    /// <summary>The most requests this simulator handled at the same time.</summary>
    public int MaxConcurrent => Volatile.Read(ref _maxActive);

    /// <summary>When set, every request gets these faults, ahead of the <c>x-sim</c> header, the prompt and the profile.</summary>
    public SimulatorFaults? ForcedFaults { get; set; }

    public void ClearRequests() => _requests.Clear();

    public static async Task<SimulatorHost> StartAsync(SimulatorOptions options, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Urls);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var host = new SimulatorHost(app, options);
        host.Map(app);
        await app.StartAsync(cancellationToken);
        host.Address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
        return host;
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(TimeSpan.FromSeconds(2));
        await _app.DisposeAsync();
    }

    private void Map(WebApplication app)
    {
        foreach (var root in new[] { "/v1", "" })
        {
            app.MapPost(root + "/responses", context => HandleAsync(context, isChat: false));
            app.MapPost(root + "/chat/completions", context => HandleAsync(context, isChat: true));
            app.MapGet(root + "/models", ListModels);
        }

        app.MapGet("/_sim/requests", () => Results.Json(Requests));
        app.MapDelete("/_sim/requests", () =>
        {
            ClearRequests();
            return Results.NoContent();
        });
        app.MapPut("/_sim/faults", (FaultProfile profile) =>
        {
            FaultProfile = profile;
            return Results.NoContent();
        });
    }

    private async Task ListModels(HttpContext context)
    {
        if (!Authorized(context))
        {
            await Send(context, 401, SimulatorResponses.Error(401, "invalid_api_key", null));
            return;
        }

        await context.Response.WriteAsJsonAsync(new
        {
            @object = "list",
            data = Options.Models.Select(m => new { id = m, @object = "model", created = 1_767_225_600, owned_by = "tokenpool-simulator" }),
        });
    }

    private async Task HandleAsync(HttpContext context, bool isChat)
    {
        Interlocked.Increment(ref _totalRequests);
        var active = Interlocked.Increment(ref _active);
        var seen = Volatile.Read(ref _maxActive);
        while (active > seen && Interlocked.CompareExchange(ref _maxActive, active, seen) != seen)
        {
            seen = Volatile.Read(ref _maxActive);
        }

        var finished = false;
        using var aborted = context.RequestAborted.Register(() =>
        {
            if (!Volatile.Read(ref finished))
            {
                Interlocked.Increment(ref _clientAborts);
            }
        });
        try
        {
            await ServeAsync(context, isChat, () => finished = true);
        }
        finally
        {
            Volatile.Write(ref finished, true);
            Interlocked.Decrement(ref _active);
        }
    }

    private async Task ServeAsync(HttpContext context, bool isChat, Action selfAbort)
    {
        var cancellationToken = context.RequestAborted;
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(cancellationToken);
        _requests.Enqueue(new SimulatorRequest(
            DateTime.UtcNow,
            context.Request.Method,
            context.Request.Path.Value ?? "",
            context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            text));
        while (_requests.Count > 2000)
        {
            _requests.TryDequeue(out _);
        }

        if (!Authorized(context))
        {
            await Send(context, 401, SimulatorResponses.Error(401, "invalid_api_key", null));
            return;
        }

        JsonObject request;
        try
        {
            request = JsonNode.Parse(text) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException)
        {
            await Send(context, 400, SimulatorResponses.Error(400, null, "We could not parse the JSON body of your request."));
            return;
        }

        // Faults come from the x-sim header, else a [[sim: ...]] directive in the prompt, else the profile.
        var faults = ForcedFaults ?? SimulatorFaults.Parse(context.Request.Headers["x-sim"].ToString());
        if (faults.IsEmpty)
        {
            faults = SimulatorFaults.Parse(SimulatorFaults.Directive(SimulatedTurn.LastUserText(request, isChat) ?? ""));
        }

        if (faults.IsEmpty && FaultProfile != FaultProfile.None)
        {
            lock (_randomLock)
            {
                faults = FaultProfile.Pick(_random);
            }
        }

        var key = context.Request.Headers.Authorization.ToString();
        var fingerprint = SimulatedTurn.Fingerprint(key);
        var turn = SimulatedTurn.From(request, isChat, faults, fingerprint, cacheKey => !_cacheKeys.TryAdd(fingerprint + cacheKey, true));

        if (Options.Models.Count > 0 && !Options.Models.Contains(turn.Model))
        {
            await Send(context, 404, SimulatorResponses.Error(404, "model_not_found", $"The model `{turn.Model}` does not exist or you do not have access to it."));
            return;
        }

        if (faults.DelayHeadersMs > 0)
        {
            await Task.Delay(faults.DelayHeadersMs, cancellationToken);
        }

        if (faults.StallAfter == -1)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }

        if (faults.Status is { } status)
        {
            if (faults.RetryAfter is { } retryAfter)
            {
                context.Response.Headers.RetryAfter = Math.Ceiling(retryAfter).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            await Send(context, status, SimulatorResponses.Error(status, faults.Code, null));
            return;
        }

        if (turn.ForeignReasoningItem is { } itemId)
        {
            await Send(context, 400, SimulatorResponses.Error(400, "invalid_encrypted_content",
                $"The encrypted content for item {itemId} could not be verified."));
            return;
        }

        var responseId = "resp_" + Interlocked.Increment(ref _responseCounter).ToString("x8", System.Globalization.CultureInfo.InvariantCulture)
            + Guid.NewGuid().ToString("N")[..16];
        var writer = new SimulatorResponses(turn, faults, responseId, DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var stream = request["stream"] is JsonValue streamValue && streamValue.TryGetValue<bool>(out var streamFlag) && streamFlag;
        if (!stream)
        {
            await Send(context, 200, isChat ? writer.ChatObject() : writer.ResponseObject());
            return;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.StartAsync(cancellationToken);
        if (faults.CloseAfterHeaders)
        {
            await context.Response.Body.FlushAsync(cancellationToken);
            // A flush only hands the headers to the transport; give them time to reach the client before the reset.
            await Task.Delay(100, cancellationToken);
            selfAbort();
            context.Abort();
            return;
        }

        var body = context.Response.Body;
        var events = isChat
            ? [.. writer.ChatChunks(IncludeUsage(request)).Select(chunk => ((string?)null, chunk)), (null, "[DONE]"u8.ToArray())]
            : writer.ResponsesEvents().Select(e => ((string?)e.Name, e.Data)).ToList();
        for (var i = 0; i < events.Count; i++)
        {
            if (faults.StallAfter == i)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            if (faults.DropAfter == i)
            {
                selfAbort();
                context.Abort();
                return;
            }

            if (faults.FailAfter == i)
            {
                var failure = isChat
                    ? SimulatorResponses.Error(500, "server_error", "The simulated upstream failed mid-stream.")
                    : writer.ResponsesFailedEvent("server_error", "The simulated upstream failed mid-stream.");
                await WriteEvent(body, isChat ? null : "response.failed", failure, cancellationToken);
                return;
            }

            if (i > 0 && faults.DelayEventsMs > 0)
            {
                await Task.Delay(faults.DelayEventsMs, cancellationToken);
            }

            await WriteEvent(body, events[i].Item1, events[i].Item2, cancellationToken);
        }
    }

    private static async Task WriteEvent(Stream body, string? name, byte[] data, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream(data.Length + 64);
        if (name is not null)
        {
            buffer.Write("event: "u8);
            buffer.Write(Encoding.UTF8.GetBytes(name));
            buffer.Write("\n"u8);
        }

        buffer.Write("data: "u8);
        buffer.Write(data);
        buffer.Write("\n\n"u8);
        await body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken);
        await body.FlushAsync(cancellationToken);
    }

    private static bool IncludeUsage(JsonObject request) =>
        request["stream_options"] is JsonObject options && options["include_usage"] is JsonValue value && value.TryGetValue<bool>(out var include) && include;

    private bool Authorized(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length <= 7)
        {
            return false;
        }

        return Options.ApiKey is null || string.Equals(header[7..], Options.ApiKey, StringComparison.Ordinal);
    }

    private static async Task Send(HttpContext context, int status, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }
}
