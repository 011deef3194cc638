using System.Collections.Frozen;
using System.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using TokenPool.Gateway.Dialects;
using TokenPool.Gateway.Streaming;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// The client's side of one request: its HTTP response, started once. Before it is committed an error goes out as
/// a status and a JSON body in the client API's envelope; after, as the client API's terminal stream event. It
/// knows when the first byte of the answer left, and whether the client is still there.
/// </summary>
internal sealed class ClientResponse(HttpContext context, Dialect dialect, string requestId, IReadOnlyList<KeyValuePair<string, string>> limitHeaders)
{
    /// <summary>Upstream response headers a client may use; every other upstream header stays behind.</summary>
    private static readonly FrozenSet<string> ForwardedHeaders = new[]
    {
        "x-request-id", "openai-processing-ms", "openai-version", "x-codex-turn-state", "x-models-etag",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    public HttpContext Context { get; } = context;

    /// <summary>The API the client speaks.</summary>
    public Dialect Dialect { get; } = dialect;

    public string RequestId { get; } = requestId;

    /// <summary>The status and headers have gone: from now on errors go into the stream, and no other upstream can be tried.</summary>
    public bool Committed { get; private set; }

    /// <summary>When the first byte of the answer was written to the client.</summary>
    public long? FirstByteTimestamp { get; private set; }

    /// <summary>The status the client got (200 once a stream is committed).</summary>
    public int Status => Context.Response.StatusCode;

    public CancellationToken Aborted => Context.RequestAborted;

    /// <summary>
    /// Sends the status and headers of a successful upstream answer (unless keep-alives already committed a stream),
    /// with <paramref name="contentType"/>: the upstream's own when the answer passes through.
    /// </summary>
    public void Start(HttpResponseMessage upstream, string contentType, bool isEventStream, bool simulated)
    {
        if (Committed)
        {
            return;
        }

        var response = Context.Response;
        response.StatusCode = (int)upstream.StatusCode;

        // Read as sent: enumerating the typed headers would parse and validate every value first.
        foreach (var (name, values) in upstream.Headers.NonValidated)
        {
            if (ForwardedHeaders.Contains(name))
            {
                response.Headers[name] = values.Count == 1 ? values.ToString() : values.ToArray();
            }
        }

        response.ContentType = contentType;
        if (isEventStream)
        {
            StreamingHeaders();
        }

        GatewayHeaders(simulated);
        Committed = true;
    }

    /// <summary>Commits a 200 event stream before the upstream has answered (to send keep-alive events while waiting).</summary>
    public void StartStream(bool simulated)
    {
        if (Committed)
        {
            return;
        }

        Context.Response.StatusCode = 200;
        Context.Response.ContentType = "text/event-stream; charset=utf-8";
        StreamingHeaders();
        GatewayHeaders(simulated);
        Committed = true;
    }

    /// <summary>Writes bytes of the answer; false when the client has gone.</summary>
    public async ValueTask<bool> WriteAsync(ReadOnlyMemory<byte> bytes)
    {
        FirstByteTimestamp ??= Stopwatch.GetTimestamp();
        try
        {
            await Context.Response.Body.WriteAsync(bytes, Context.RequestAborted);
            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            return false;
        }
    }

    /// <summary>Writes bytes TokenPool made itself (a keep-alive, a terminal error); false when the client has gone.</summary>
    public async ValueTask<bool> WriteOwnAsync(ReadOnlyMemory<byte> bytes)
    {
        try
        {
            await Context.Response.Body.WriteAsync(bytes, Context.RequestAborted);
            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            return false;
        }
    }

    /// <summary>
    /// Tells the client about an error: as a status and body in its API's envelope while nothing is committed, else
    /// as its API's terminal stream event (<paramref name="meter"/> is the client API's meter of the stream so far).
    /// False when the client has gone.
    /// </summary>
    public async ValueTask<bool> FailAsync(ApiError error, SseMeter? meter, string model)
    {
        if (Committed)
        {
            return await WriteOwnAsync(Dialect.TerminalError(error, meter, model, RequestId));
        }

        foreach (var (name, value) in limitHeaders)
        {
            Context.Response.Headers[name] = value;
        }

        Committed = true;
        try
        {
            await Dialect.WriteErrorAsync(Context, error);
            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            return false;
        }
    }

    private void StreamingHeaders()
    {
        Context.Response.Headers.CacheControl = "no-cache";
        Context.Response.Headers["X-Accel-Buffering"] = "no";
        Context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
    }

    private void GatewayHeaders(bool simulated)
    {
        var headers = Context.Response.Headers;
        foreach (var (name, value) in limitHeaders)
        {
            headers[name] = value;
        }

        if (simulated)
        {
            headers["x-tokenpool-upstream"] = "simulated";
        }
    }
}
