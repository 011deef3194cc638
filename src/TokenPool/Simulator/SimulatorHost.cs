using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace TokenPool.Simulator;

/// <summary>
/// The built-in simulated upstream: a server that stands in for a paid provider, needs no account and no
/// network, and answers as the real one does on the wire (see <see cref="SimulatorFlavor"/>). It runs
/// beside TokenPool when no real channel is configured (every API at once), as <c>tokenpool simulate</c>,
/// and inside the tests, which choose a flavour per channel and a fault per request.
/// <para>How one request is served:</para>
/// <list type="number">
/// <item>The path decides the API; a flavour that does not serve it answers 404 in its own shape.</item>
/// <item>The key is checked as that server checks it (Bearer; Anthropic's <c>x-api-key</c> and <c>anthropic-version</c>; Ollama none).</item>
/// <item>The body is parsed (a repeated key read as the flavour reads it) into a <see cref="Conversation"/>.</item>
/// <item>The request's faults are picked (<see cref="SimulatorFaults"/>): a redirect, a delay, an error status, a stall.</item>
/// <item>Sealed reasoning from another key, DeepSeek's missing <c>reasoning_content</c> and an unknown
/// <c>previous_response_id</c> are refused as the real servers refuse them.</item>
/// <item>The simulated model answers (<see cref="SimulatedTurn"/>) with usage counted from the request and the prompt cache.</item>
/// <item>The answer is written in the API's and flavour's wire format, streamed or not, cut or failed where the faults say.</item>
/// </list>
/// Every answer carries <c>x-tokenpool-upstream: simulated</c> and <c>x-tokenpool-simulator: &lt;flavour&gt;</c>.
/// </summary>
internal sealed class SimulatorHost : IAsyncDisposable
{
    private const int LogCapacity = 2000;
    private static readonly string[] Roots = ["/v1", "", "/moved/v1"];

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<SimulatorRequest> _requests = new();
    private readonly PromptCache _cache = new();
    private readonly ResponseStore _store = new();
    private readonly ConcurrentDictionary<string, SimulatedUsage> _runningTotals = new(StringComparer.Ordinal);
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

    /// <summary>The latest requests received (at most 2,000), oldest first, each with the usage the simulator reported.</summary>
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
        foreach (var root in Roots)
        {
            app.MapPost(root + "/responses", context => HandleAsync(context, SimulatedApi.Responses));
            app.MapPost(root + "/chat/completions", context => HandleAsync(context, SimulatedApi.Chat));
            app.MapPost(root + "/messages", context => HandleAsync(context, SimulatedApi.Messages));
            app.MapPost(root + "/messages/count_tokens", CountTokensAsync);
            app.MapGet(root + "/models", ListModelsAsync);
        }

        // The request log holds users' prompts and forwarded headers: served only to the operator's token (issue 15).
        if (Options.ControlToken is { Length: > 0 })
        {
            app.MapGet("/_sim/requests", (HttpContext context) => Controlled(context, () => Results.Json(Requests)));
            app.MapDelete("/_sim/requests", (HttpContext context) => Controlled(context, () =>
            {
                ClearRequests();
                return Results.NoContent();
            }));
            app.MapPut("/_sim/faults", (HttpContext context, FaultProfile profile) => Controlled(context, () =>
            {
                FaultProfile = profile;
                return Results.NoContent();
            }));
        }

        app.MapFallback(async context => await NotServedAsync(context, Options.Flavor));
    }

    private IResult Controlled(HttpContext context, Func<IResult> action)
    {
        var header = context.Request.Headers.Authorization.ToString();
        var given = Encoding.UTF8.GetBytes(header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..] : "");
        var expected = Encoding.UTF8.GetBytes(Options.ControlToken!);
        return CryptographicOperations.FixedTimeEquals(given, expected) ? action() : Results.NotFound();
    }

    private async Task ListModelsAsync(HttpContext context)
    {
        var flavor = FlavorFor(context, SimulatorFaults.None);
        Label(context, flavor);
        var api = flavor == SimulatorFlavor.Anthropic ? SimulatedApi.Messages : SimulatedApi.Chat;
        if (await RefuseKeyAsync(context, flavor, api))
        {
            return;
        }

        if (flavor == SimulatorFlavor.Anthropic)
        {
            await context.Response.WriteAsJsonAsync(new
            {
                data = Options.Models.Select(m => new { type = "model", id = m, display_name = m + " (simulated)", created_at = "2026-01-01T00:00:00Z" }),
                has_more = false,
                first_id = Options.Models.FirstOrDefault(),
                last_id = Options.Models.LastOrDefault(),
            });
            return;
        }

        await context.Response.WriteAsJsonAsync(new
        {
            @object = "list",
            data = Options.Models.Select(m => new { id = m, @object = "model", created = 1_767_225_600, owned_by = flavor == SimulatorFlavor.Ollama ? "library" : "tokenpool-simulator" }),
        });
    }

    private async Task CountTokensAsync(HttpContext context)
    {
        var faults = HeaderFaults(context);
        var flavor = FlavorFor(context, faults);
        Label(context, flavor);
        if (!flavor.Serves(SimulatedApi.Messages))
        {
            await NotServedAsync(context, flavor);
            return;
        }

        if (await RefuseKeyAsync(context, flavor, SimulatedApi.Messages))
        {
            return;
        }

        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(context.RequestAborted);
        Log(context, text);
        JsonObject? body;
        try
        {
            body = JsonBody.Parse(text, faults.Duplicates);
        }
        catch (Exception e) when (e is JsonException or DuplicateKeyException)
        {
            body = null;
        }

        if (body is null || body["model"] is null || body["messages"] is not JsonArray)
        {
            await SendErrorAsync(context, flavor, SimulatedApi.Messages, 400, null, body is null ? "There was an issue with your request body: it is not valid JSON." : "messages: Field required");
            return;
        }

        var conversation = Conversation.Read(SimulatedApi.Messages, body);
        await context.Response.WriteAsJsonAsync(new { input_tokens = Math.Max(1, conversation.Segments.Sum(s => s.Tokens)) });
    }

    private async Task HandleAsync(HttpContext context, SimulatedApi api)
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
            await ServeAsync(context, api, () => finished = true);
        }
        finally
        {
            Volatile.Write(ref finished, true);
            Interlocked.Decrement(ref _active);
        }
    }

    private async Task ServeAsync(HttpContext context, SimulatedApi api, Action selfAbort)
    {
        var cancellationToken = context.RequestAborted;
        using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(cancellationToken);
        var entry = Log(context, text);

        // 1–2. The flavour decides what is served and how the key is checked.
        var header = HeaderFaults(context);
        var key = KeyOf(context);
        var keyFaults = SimulatorFaults.TryParse(SimulatorFaults.KeySpec(key));
        var defaults = SimulatorFaults.TryParse(Options.Defaults);
        var flavor = FlavorFor(context, header, keyFaults);
        entry.Flavor = flavor.Name();
        Label(context, flavor);
        if (!flavor.Serves(api))
        {
            await NotServedAsync(context, flavor);
            return;
        }

        if (await RefuseKeyAsync(context, flavor, api))
        {
            return;
        }

        // 3. The body, read as this server reads a repeated key.
        var duplicates = ForcedFaults?.Duplicates ?? header.Duplicates ?? keyFaults.Duplicates ?? defaults.Duplicates;
        Conversation conversation;
        try
        {
            var body = JsonBody.Parse(text, duplicates) ?? throw new JsonException("not an object");
            conversation = Conversation.Read(api, body);
        }
        catch (JsonException)
        {
            await SendErrorAsync(context, flavor, api, 400, null, api == SimulatedApi.Messages
                ? "There was an issue with the formatting of your request body: it is not valid JSON."
                : "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)");
            return;
        }
        catch (DuplicateKeyException e)
        {
            await SendErrorAsync(context, flavor, api, 400, null, $"Invalid JSON body: the key '{e.Path}' appears more than once.");
            return;
        }

        if (conversation.Invalid is { } invalid)
        {
            await SendErrorAsync(context, flavor, api, 400, null, invalid);
            return;
        }

        // 4. This request's faults: forced, header, prompt directive, key spec, defaults, profile.
        var faults = Pick(header, conversation, keyFaults, defaults);
        if (faults.Redirect is { } redirect && !context.Request.Path.StartsWithSegments("/moved", StringComparison.Ordinal))
        {
            context.Response.StatusCode = redirect;
            context.Response.Headers.Location = faults.Location ?? $"{Address}/moved{context.Request.Path}{context.Request.QueryString}";
            return;
        }

        if (Options.Models.Count > 0 && !Options.Models.Contains(conversation.Model))
        {
            await SendErrorAsync(context, flavor, api, 404, api == SimulatedApi.Messages ? null : "model_not_found", ModelNotFound(flavor, api, conversation.Model), faults, key);
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

        if (faults.Cut == StreamStage.Headers)
        {
            selfAbort();
            context.Abort();
            return;
        }

        if (faults.Status is { } status)
        {
            if (faults.RetryAfter is { } retryAfter)
            {
                context.Response.Headers.RetryAfter = Math.Ceiling(retryAfter).ToString(CultureInfo.InvariantCulture);
            }

            await SendErrorAsync(context, flavor, api, status, faults.Code, null, faults, key);
            return;
        }

        // 5. What the real servers refuse in a well-formed request.
        var fingerprint = SimulatedTurn.Fingerprint(key);
        if (await RefuseConversationAsync(context, flavor, conversation, fingerprint, faults, key))
        {
            return;
        }

        long storedTokens = 0;
        if (conversation.PreviousResponseId is { } previous)
        {
            if ((faults.PreviousInputTokens ?? _store.Tokens(previous, fingerprint)) is not { } tokens)
            {
                await SendErrorAsync(context, flavor, api, 400, "previous_response_not_found", $"Previous response with id '{previous}' not found.", faults, key);
                return;
            }

            storedTokens = tokens;
        }

        // 6. The answer, with usage counted from the request and the prompt cache.
        var cache = faults.Usage is null ? _cache.Lookup(fingerprint, conversation, flavor, storedTokens) : default;
        var turn = SimulatedTurn.From(conversation, faults, fingerprint, cache, storedTokens,
            () => api == SimulatedApi.Messages ? MessagesWire.NewToolUseId() : ChatWire.NewCallId(api == SimulatedApi.Chat ? flavor : SimulatorFlavor.OpenAi));
        if (faults.RunningTotals)
        {
            var own = turn.Usage;
            var running = _runningTotals.AddOrUpdate(fingerprint, own, (_, sum) => new SimulatedUsage(sum.Input + own.Input, sum.Cached + own.Cached,
                sum.Output + own.Output, sum.Reasoning + own.Reasoning, sum.CacheWrite5m + own.CacheWrite5m, sum.CacheWrite1h + own.CacheWrite1h));
            turn = new SimulatedTurn
            {
                Model = turn.Model, Text = turn.Text, ToolCalls = turn.ToolCalls, ReasoningText = turn.ReasoningText, ReasoningSummary = turn.ReasoningSummary,
                Seal = turn.Seal, Truncated = turn.Truncated, Usage = running,
            };
        }

        var responseId = "resp_" + Interlocked.Increment(ref _responseCounter).ToString("x8", CultureInfo.InvariantCulture) + Guid.NewGuid().ToString("N")[..16];
        if (api == SimulatedApi.Responses && conversation.Store)
        {
            _store.Add(responseId, fingerprint, turn.Usage.Input + turn.Usage.Output);
        }

        // 7. The answer on the wire.
        var createdAt = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var responses = api == SimulatedApi.Responses ? new ResponsesWire(turn, faults, responseId, createdAt) : null;
        var chat = api == SimulatedApi.Chat ? new ChatWire(turn, faults, flavor, conversation, ChatWire.NewId(flavor, responseId), createdAt) : null;
        var messages = api == SimulatedApi.Messages ? new MessagesWire(turn, faults, conversation.ThinkingOmitted, MessagesWire.NewMessageId()) : null;
        var reportsUsage = !faults.NoUsage && (conversation.Stream ? chat?.SendsUsageChunk ?? true : true);
        entry.Reported = reportsUsage ? turn.Usage : null;

        if (!conversation.Stream)
        {
            var body = responses?.ResponseObject() ?? chat?.CompletionObject() ?? messages!.MessageObject();
            await SendBodyAsync(context, flavor, faults, body, cancellationToken);
            return;
        }

        await StreamAsync(context, flavor, faults, key, responses, chat, messages, selfAbort, cancellationToken);
    }

    private async Task StreamAsync(HttpContext context, SimulatorFlavor flavor, SimulatorFaults faults, string? key,
        ResponsesWire? responses, ChatWire? chat, MessagesWire? messages, Action selfAbort, CancellationToken cancellationToken)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "text/event-stream; charset=utf-8";
        context.Response.Headers.CacheControl = "no-cache";
        if (faults.Gzip)
        {
            context.Response.Headers.ContentEncoding = "gzip";
        }

        await context.Response.StartAsync(cancellationToken);
        if (faults.CloseAfterHeaders || faults.Cut == StreamStage.FirstByte)
        {
            await context.Response.Body.FlushAsync(cancellationToken);

            // A flush only hands the headers to the transport; give them time to reach the client before the reset.
            await Task.Delay(100, cancellationToken);
            selfAbort();
            context.Abort();
            return;
        }

        if (faults.Truncate == StreamStage.FirstByte)
        {
            return;
        }

        await using var gzip = faults.Gzip ? new GZipStream(context.Response.Body, CompressionLevel.Fastest, leaveOpen: true) : null;
        var body = gzip ?? context.Response.Body;
        await QueueAsync(body, flavor, faults, cancellationToken);

        var events = responses?.Events() ?? chat?.Chunks() ?? messages!.Events();
        var cut = StageIndex(events, faults.Cut);
        var truncate = StageIndex(events, faults.Truncate);
        var fail = faults.FailAfter ?? StageIndex(events, faults.Fail);
        for (var i = 0; i < events.Count; i++)
        {
            if (faults.StallAfter == i)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            if (faults.DropAfter == i || cut == i)
            {
                // A reset discards what is still in the socket's send buffer: let the events sent so far arrive first.
                await body.FlushAsync(cancellationToken);
                await Task.Delay(100, cancellationToken);
                selfAbort();
                context.Abort();
                return;
            }

            if (truncate == i)
            {
                return;
            }

            if (fail == i)
            {
                var message = "The simulated upstream failed mid-stream.";
                if (faults.LeakSecrets)
                {
                    message = SimulatorErrors.Leak(message, key);
                }

                var failure = responses is not null ? [responses.FailedEvent(faults.FailCode ?? "server_error", message)]
                    : chat is not null ? chat.StreamError(faults.FailCode, message)
                    : new List<StreamEvent> { MessagesWire.ErrorEvent(faults.FailCode ?? "overloaded_error", faults.LeakSecrets ? message : "Overloaded") };
                foreach (var failed in failure)
                {
                    await WriteEventAsync(body, failed, cancellationToken);
                }

                return;
            }

            if (i > 0 && faults.DelayEventsMs > 0)
            {
                await Task.Delay(faults.DelayEventsMs, cancellationToken);
            }

            await WriteEventAsync(body, events[i], cancellationToken);
        }
    }

    /// <summary>
    /// Where a stage-named fault strikes: after the opening events (<c>created</c>), in the middle of the reasoning,
    /// text or tool-call deltas, or just before the finish, the usage or the end marker. A stage the answer lacks
    /// strikes at the next one it has.
    /// </summary>
    internal static int? StageIndex(List<StreamEvent> events, StreamStage? stage)
    {
        if (stage is not { } wanted || wanted <= StreamStage.FirstByte)
        {
            return null;
        }

        if (wanted == StreamStage.Created)
        {
            return events.FindIndex(e => e.Stage != StreamStage.Created) is var after and >= 0 ? after : events.Count;
        }

        if (wanted is StreamStage.Reasoning or StreamStage.Text or StreamStage.Tool)
        {
            var first = events.FindIndex(e => e.Stage == wanted);
            if (first >= 0)
            {
                var count = events.Count(e => e.Stage == wanted);
                return first + ((count + 1) / 2);
            }
        }

        var index = events.FindIndex(e => e.Stage >= wanted);
        return index >= 0 ? index : events.Count;
    }

    /// <summary>Stays queued after the headers: DeepSeek sends <c>: keep-alive</c> comments meanwhile, the others are silent.</summary>
    private static async Task QueueAsync(Stream body, SimulatorFlavor flavor, SimulatorFaults faults, CancellationToken cancellationToken)
    {
        if (faults.QueueMs <= 0)
        {
            return;
        }

        var until = DateTime.UtcNow.AddMilliseconds(faults.QueueMs);
        while (DateTime.UtcNow < until)
        {
            if (flavor == SimulatorFlavor.DeepSeek)
            {
                await body.WriteAsync(": keep-alive\n\n"u8.ToArray(), cancellationToken);
                await body.FlushAsync(cancellationToken);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500, Math.Max(1, (until - DateTime.UtcNow).TotalMilliseconds))), cancellationToken);
        }
    }

    private SimulatorFaults Pick(SimulatorFaults header, Conversation conversation, SimulatorFaults keyFaults, SimulatorFaults defaults)
    {
        if (ForcedFaults is { } forced)
        {
            return forced;
        }

        foreach (var candidate in new[] { header, SimulatorFaults.TryParse(SimulatorFaults.Directive(conversation.TaskText ?? "")), keyFaults, defaults })
        {
            if (!candidate.IsEmpty)
            {
                return candidate;
            }
        }

        if (FaultProfile != FaultProfile.None)
        {
            lock (_randomLock)
            {
                return FaultProfile.Pick(_random);
            }
        }

        return SimulatorFaults.None;
    }

    /// <summary>Refuses what the real server refuses in a well-formed body; true when it answered.</summary>
    private async Task<bool> RefuseConversationAsync(HttpContext context, SimulatorFlavor flavor, Conversation conversation, string fingerprint, SimulatorFaults faults, string? key)
    {
        var api = conversation.Api;
        foreach (var part in conversation.Parts.Where(p => p.Kind == PartKind.Reasoning))
        {
            if (api == SimulatedApi.Responses && part.Seal is not null && !SimulatedTurn.SealedBy(part.Seal, fingerprint))
            {
                await SendErrorAsync(context, flavor, api, 400, "invalid_encrypted_content", $"The encrypted content for item {part.ItemId ?? "rs_unknown"} could not be verified.", faults, key);
                return true;
            }

            if (api == SimulatedApi.Messages && !SimulatedTurn.SealedBy(part.Seal, fingerprint))
            {
                await SendErrorAsync(context, flavor, api, 400, null, $"{part.ItemId}: Invalid `signature` in `thinking` block", faults, key);
                return true;
            }
        }

        if (flavor == SimulatorFlavor.DeepSeek && conversation.WantsReasoning && conversation.ToolCallsWithoutReasoning.Count > 0)
        {
            await SendErrorAsync(context, flavor, api, 400, "invalid_request_error",
                $"Missing `reasoning_content` field in the assistant message at message index {conversation.ToolCallsWithoutReasoning[0]}. " +
                "In thinking mode the reasoning_content of an assistant message with tool calls must be passed back to the API.", faults, key);
            return true;
        }

        return false;
    }

    /// <summary>Checks the key as the flavour's server does; true when it answered with an error.</summary>
    private async Task<bool> RefuseKeyAsync(HttpContext context, SimulatorFlavor flavor, SimulatedApi api)
    {
        if (flavor == SimulatorFlavor.Ollama)
        {
            return false;
        }

        var key = KeyOf(context);
        if (api == SimulatedApi.Messages || flavor == SimulatorFlavor.Anthropic)
        {
            if (string.IsNullOrEmpty(key))
            {
                await SendErrorAsync(context, flavor, api, 401, null, "x-api-key header is required");
                return true;
            }

            if (Options.ApiKey is not null && key != Options.ApiKey)
            {
                await SendErrorAsync(context, flavor, api, 401, null, "invalid x-api-key");
                return true;
            }

            if (flavor == SimulatorFlavor.Anthropic && string.IsNullOrEmpty(context.Request.Headers["anthropic-version"].ToString()))
            {
                await SendErrorAsync(context, flavor, api, 400, null, "anthropic-version: header is required");
                return true;
            }

            return false;
        }

        var header = context.Request.Headers.Authorization.ToString();
        var bearer = header.StartsWith("Bearer ", StringComparison.Ordinal) && header.Length > 7 ? header[7..] : null;
        if (flavor is SimulatorFlavor.Vllm or SimulatorFlavor.SgLang)
        {
            if (Options.ApiKey is not null && bearer != Options.ApiKey)
            {
                // vLLM and SGLang started with --api-key answer a bare {"error":"Unauthorized"}.
                await SendAsync(context, 401, "application/json", """{"error":"Unauthorized"}"""u8.ToArray());
                return true;
            }

            return false;
        }

        if (bearer is null || (Options.ApiKey is not null && bearer != Options.ApiKey))
        {
            await SendErrorAsync(context, flavor, api, 401, flavor == SimulatorFlavor.DeepSeek ? "invalid_request_error" : "invalid_api_key", null);
            return true;
        }

        return false;
    }

    /// <summary>404 for a path the flavour's server does not serve, in its own shape (FastAPI, Gin, OpenAI, Anthropic).</summary>
    private static Task NotServedAsync(HttpContext context, SimulatorFlavor flavor)
    {
        Label(context, flavor);
        var path = $"{context.Request.Method} {context.Request.Path}";
        return flavor switch
        {
            SimulatorFlavor.Vllm or SimulatorFlavor.SgLang => SendAsync(context, 404, "application/json", """{"detail":"Not Found"}"""u8.ToArray()),
            SimulatorFlavor.Ollama => SendAsync(context, 404, "text/plain", "404 page not found"u8.ToArray()),
            SimulatorFlavor.Anthropic => SendAsync(context, 404, "application/json", SimulatorErrors.Body(flavor, SimulatedApi.Messages, 404, null, "Not Found")),
            _ => SendAsync(context, 404, "application/json", SimulatorErrors.Body(flavor, SimulatedApi.Chat, 404, null, $"Invalid URL ({path})")),
        };
    }

    private static string ModelNotFound(SimulatorFlavor flavor, SimulatedApi api, string model) => (flavor, api) switch
    {
        (_, SimulatedApi.Messages) or (SimulatorFlavor.Anthropic, _) => $"model: {model}",
        (SimulatorFlavor.Vllm, _) => $"The model `{model}` does not exist.",
        (SimulatorFlavor.Ollama, _) => $"model \"{model}\" not found, try pulling it first",
        (SimulatorFlavor.DeepSeek, _) => "Model Not Exist",
        (SimulatorFlavor.SgLang, _) => $"The model '{model}' does not exist",
        _ => $"The model `{model}` does not exist or you do not have access to it.",
    };

    private static Task SendErrorAsync(HttpContext context, SimulatorFlavor flavor, SimulatedApi api, int status, string? code, string? message,
        SimulatorFaults? faults = null, string? key = null)
    {
        message ??= SimulatorErrors.DefaultMessage(flavor, api, status, code);
        if (faults?.LeakSecrets == true)
        {
            message = SimulatorErrors.Leak(message, key);
        }

        var anthropic = api == SimulatedApi.Messages || flavor == SimulatorFlavor.Anthropic;
        if (anthropic)
        {
            context.Response.Headers["request-id"] = "req_011" + Wire.Id(21);
        }
        else if (flavor is SimulatorFlavor.OpenAi or SimulatorFlavor.AllApis)
        {
            context.Response.Headers["x-request-id"] = "req_" + Guid.NewGuid().ToString("N");
        }

        if (status == 429)
        {
            // The rate-limit headers real providers send with a 429 (OpenAI's x-ratelimit-*, Anthropic's anthropic-ratelimit-*).
            var reset = faults?.RetryAfter ?? 1;
            var resetText = reset.ToString("0.###", CultureInfo.InvariantCulture);
            if (anthropic)
            {
                context.Response.Headers["anthropic-ratelimit-requests-limit"] = "50";
                context.Response.Headers["anthropic-ratelimit-requests-remaining"] = "0";
                context.Response.Headers["anthropic-ratelimit-requests-reset"] = DateTimeOffset.UtcNow.AddSeconds(reset).ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            }
            else if (flavor is SimulatorFlavor.OpenAi or SimulatorFlavor.AllApis)
            {
                context.Response.Headers["x-ratelimit-limit-requests"] = "500";
                context.Response.Headers["x-ratelimit-remaining-requests"] = "0";
                context.Response.Headers["x-ratelimit-reset-requests"] = resetText + "s";
            }
        }

        var body = SimulatorErrors.Body(flavor, api, status, code, message);
        return faults?.Gzip == true ? SendGzipAsync(context, status, body) : SendAsync(context, status, "application/json", body);
    }

    private static async Task SendBodyAsync(HttpContext context, SimulatorFlavor flavor, SimulatorFaults faults, byte[] body, CancellationToken cancellationToken)
    {
        if (faults.QueueMs > 0)
        {
            // Queued: headers at once, then (DeepSeek) a blank line now and then until the answer.
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/json";
            await context.Response.StartAsync(cancellationToken);
            var until = DateTime.UtcNow.AddMilliseconds(faults.QueueMs);
            while (DateTime.UtcNow < until)
            {
                if (flavor == SimulatorFlavor.DeepSeek)
                {
                    await context.Response.Body.WriteAsync("\n"u8.ToArray(), cancellationToken);
                    await context.Response.Body.FlushAsync(cancellationToken);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500, Math.Max(1, (until - DateTime.UtcNow).TotalMilliseconds))), cancellationToken);
            }

            await context.Response.Body.WriteAsync(body, cancellationToken);
            return;
        }

        if (faults.Gzip)
        {
            await SendGzipAsync(context, 200, body);
            return;
        }

        await SendAsync(context, 200, "application/json", body);
    }

    private static async Task SendGzipAsync(HttpContext context, int status, byte[] body)
    {
        using var compressed = new MemoryStream();
        await using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            await gzip.WriteAsync(body);
        }

        context.Response.Headers.ContentEncoding = "gzip";
        await SendAsync(context, status, "application/json", compressed.ToArray());
    }

    private static async Task SendAsync(HttpContext context, int status, string contentType, byte[] body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted);
    }

    private static async Task WriteEventAsync(Stream body, StreamEvent streamEvent, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream(streamEvent.Data.Length + 64);
        if (streamEvent.Name is not null)
        {
            buffer.Write("event: "u8);
            buffer.Write(Encoding.UTF8.GetBytes(streamEvent.Name));
            buffer.Write("\n"u8);
        }

        buffer.Write("data: "u8);
        buffer.Write(streamEvent.Data);
        buffer.Write("\n\n"u8);
        await body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken);
        await body.FlushAsync(cancellationToken);
    }

    /// <summary>Says plainly that the simulator answered, in headers a gateway can pass on.</summary>
    private static void Label(HttpContext context, SimulatorFlavor flavor)
    {
        context.Response.Headers["x-tokenpool-upstream"] = "simulated";
        context.Response.Headers["x-tokenpool-simulator"] = flavor.Name();
    }

    private SimulatorRequest Log(HttpContext context, string body)
    {
        var entry = new SimulatorRequest(
            DateTime.UtcNow,
            context.Request.Method,
            context.Request.Path.Value + context.Request.QueryString.Value,
            context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
            body);
        _requests.Enqueue(entry);
        while (_requests.Count > LogCapacity)
        {
            _requests.TryDequeue(out _);
        }

        return entry;
    }

    private SimulatorFlavor FlavorFor(HttpContext context, SimulatorFaults header, SimulatorFaults? keyFaults = null) =>
        ForcedFaults?.Flavor ?? header.Flavor ?? (keyFaults ?? SimulatorFaults.TryParse(SimulatorFaults.KeySpec(KeyOf(context)))).Flavor
        ?? SimulatorFaults.TryParse(Options.Defaults).Flavor ?? Options.Flavor;

    private static SimulatorFaults HeaderFaults(HttpContext context) => SimulatorFaults.TryParse(context.Request.Headers["x-sim"].ToString());

    /// <summary>The key the request carries: <c>x-api-key</c> (Anthropic), else the bearer token.</summary>
    private static string? KeyOf(HttpContext context)
    {
        if (context.Request.Headers["x-api-key"].ToString() is { Length: > 0 } apiKey)
        {
            return apiKey;
        }

        var header = context.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.Ordinal) && header.Length > 7 ? header[7..] : null;
    }
}
