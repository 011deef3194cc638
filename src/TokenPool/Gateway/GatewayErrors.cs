using System.Globalization;
using TokenPool.Billing;
using TokenPool.Keys;

namespace TokenPool.Gateway;

/// <summary>
/// Every error a client of the API can meet, worded for the person who reads it in Codex, OpenCode or a
/// script. The troubleshooting guide quotes these messages; keep the two in step.
/// </summary>
internal static class GatewayErrors
{
    private const string InvalidKey = "invalid_api_key";

    public static ApiError MissingKey(string apiKeysPage) => new(401, ApiError.InvalidRequest, InvalidKey,
        "No API key was sent. Send your TokenPool API key in the Authorization header as \"Bearer <key>\". "
        + "Codex reads the key from ~/.codex/auth.json as {\"OPENAI_API_KEY\": \"<key>\"}, not from config.toml. "
        + $"Create or copy a key at {apiKeysPage}.");

    public static ApiError NotBearer(string apiKeysPage) => new(401, ApiError.InvalidRequest, InvalidKey,
        "The Authorization header must be \"Bearer <your TokenPool API key>\". "
        + $"Copy your key from {apiKeysPage}.");

    public static ApiError BadKeyShape(ApiKeyShape shape, int length, string apiKeysPage) => shape switch
    {
        ApiKeyShape.ForeignKey => new(401, ApiError.InvalidRequest, InvalidKey,
            $"This is not a TokenPool API key (TokenPool keys start with \"{ApiKeyFormat.Prefix}\"); it looks like a key from another provider. "
            + $"Copy your TokenPool key from {apiKeysPage}."),
        ApiKeyShape.NotAKey => new(401, ApiError.InvalidRequest, InvalidKey,
            $"The value sent as the API key is not a TokenPool API key. TokenPool keys start with \"{ApiKeyFormat.Prefix}\" and are {ApiKeyFormat.Length} characters long; "
            + $"your password or a placeholder will not work. Copy your key from {apiKeysPage}."),
        ApiKeyShape.TooShort => new(401, ApiError.InvalidRequest, InvalidKey,
            $"The API key looks incomplete: it has {length} of its {ApiKeyFormat.Length} characters. "
            + $"Copy the whole key again from {apiKeysPage} with the Copy button."),
        _ => new(401, ApiError.InvalidRequest, InvalidKey,
            "The API key looks incomplete or mistyped: its last characters (a checksum) do not match the rest. "
            + $"Copy the whole key again from {apiKeysPage} with the Copy button rather than by hand."),
    };

    public static ApiError UnknownKey(string key, string apiKeysPage) => new(401, ApiError.InvalidRequest, InvalidKey,
        $"Incorrect API key provided: {ApiKeyFormat.Mask(ApiKeyFormat.DisplayPrefix(key), ApiKeyFormat.Last4(key))}. No TokenPool key matches it. "
        + $"Check that you copied the right key, or create a new one at {apiKeysPage}.");

    public static ApiError Refused(KeyRefusal refusal, KeyIdentity key, string apiKeysPage) => refusal switch
    {
        KeyRefusal.Deleted => new(401, ApiError.InvalidRequest, InvalidKey,
            $"This API key ({key.Mask}) was deleted. Create a new key at {apiKeysPage}, then update ~/.codex/auth.json, "
            + "your OpenCode config, CC Switch or the environment variable that held the old one."),
        KeyRefusal.Disabled => new(401, ApiError.InvalidRequest, InvalidKey,
            $"This API key ({key.Mask}) is disabled. Use another key or create a new one at {apiKeysPage}."),
        KeyRefusal.Expired => new(401, ApiError.InvalidRequest, InvalidKey,
            $"This API key ({key.Mask}) expired on {key.ExpiresAt:yyyy-MM-dd HH:mm} UTC. Create a new key at {apiKeysPage}."),
        _ => new(403, "permission_error", "account_disabled",
            "The account that owns this API key is disabled, so its keys cannot be used. Contact the operator of this TokenPool deployment."),
    };

    public static ApiError InsufficientQuota(long balanceMicros, long neededMicros, string usagePage) => new(429, "insufficient_quota", "insufficient_quota",
        $"Your TokenPool account has no available quota for this request: the available balance is {Money.Format(balanceMicros)} "
        + $"and this request needs up to {Money.Format(neededMicros)} reserved. Review usage and add quota at {usagePage}.");

    public static ApiError KeySpendLimit(string mask, long? limitMicros, string usagePage, string apiKeysPage) => new(429, "insufficient_quota", "insufficient_quota",
        $"This API key ({mask}) has no available quota for this request: it has reached its spend limit"
        + (limitMicros is { } limit ? $" of {Money.Format(limit)}" : "")
        + $". Review usage at {usagePage}, and raise the key's limit or use another key at {apiKeysPage}.");

    public static ApiError MissingModel() => new(400, ApiError.InvalidRequest, "missing_required_parameter",
        "Missing required parameter: \"model\". Set the model your tool should use, e.g. \"gpt-5.5\".", "model");

    public static ApiError ModelNotFound(string model, string? suggestion, string apiBaseUrl, string modelsPage) => new(404, ApiError.InvalidRequest, "model_not_found",
        $"The model \"{model}\" does not exist or is not available on TokenPool."
        + (suggestion is null ? "" : $" Did you mean \"{suggestion}\"?")
        + $" List the models your key can use with GET {apiBaseUrl}/v1/models, or see {modelsPage}.",
        "model");

    public static ApiError ModelNotAllowed(string model, IEnumerable<string> allowed, string apiKeysPage) => new(403, "permission_error", "model_not_allowed",
        $"This API key may not use the model \"{model}\". It may use: {string.Join(", ", allowed.Order(StringComparer.Ordinal))}. "
        + $"Change the key's allowed models at {apiKeysPage}.",
        "model");

    /// <summary>No channel of the model serves the client's API, and no bridge carries it over one that does.</summary>
    public static ApiError ApiNotServed(string model, Translation.ApiKind client, IReadOnlyCollection<Translation.ApiKind> served) => new(400, ApiError.InvalidRequest, "unsupported_api",
        $"The model \"{model}\" is served here only through {string.Join(" and ", served.Select(ApiName))}, and this request uses {ApiName(client)}. "
        + $"Call {string.Join(" or ", served.Select(a => "/v1/" + Dialects.ApiTable.Find(a)?.Path))} instead, or choose a model whose upstream speaks {ApiName(client)}"
        + (client == Translation.ApiKind.Responses ? " (Codex needs one)." : "."),
        "model");

    /// <summary>How a message names an API.</summary>
    public static string ApiName(Translation.ApiKind api) => api switch
    {
        Translation.ApiKind.Responses => "the Responses API",
        Translation.ApiKind.ChatCompletions => "Chat Completions",
        _ => "the Anthropic Messages API",
    };

    /// <summary>A <c>previous_response_id</c> TokenPool did not see, for a model whose context window it does not know.</summary>
    public static ApiError UnknownPreviousResponse(string model) => new(400, ApiError.InvalidRequest, "previous_response_not_found",
        $"TokenPool does not know the response named in \"previous_response_id\", and the model \"{model}\" has no context window in its catalogue, "
        + "so it cannot hold enough for the conversation it continues. Send the whole conversation in \"input\" instead.",
        "previous_response_id");

    public static ApiError InvalidJson(string detail) => new(400, ApiError.InvalidRequest, "invalid_json",
        $"We could not parse the JSON body of your request ({detail}). Send a JSON object with Content-Type: application/json.");

    public static ApiError InvalidParameter(string param, string message) => new(400, ApiError.InvalidRequest, "invalid_value", message, param);

    public static ApiError InvalidUtf8(int? at) => new(400, ApiError.InvalidRequest, "invalid_encoding",
        "The request body is not valid UTF-8"
        + (at is { } position ? $" (the first bad byte is at position {position})" : " (it has a \\u escape that is not valid text)")
        + ". Send the JSON body encoded as UTF-8.");

    public static ApiError TooLong(string field, int limit) => new(400, ApiError.InvalidRequest, "string_above_max_length",
        $"\"{field}\" is longer than TokenPool accepts: at most {limit} characters. Send a shorter value.", field);

    public static ApiError HeaderTooLong(string header, int limit) => new(400, ApiError.InvalidRequest, "header_too_long",
        $"The {header} header is longer than TokenPool accepts (at most {limit} characters, and only once). Send a shorter value.", header);

    public static ApiError HeadersTooLarge(int limitBytes) => new(431, ApiError.InvalidRequest, "request_headers_too_large",
        $"The request's headers are larger than TokenPool accepts ({limitBytes / 1024} KB in all). Send fewer or shorter headers.");

    public static ApiError DuplicateKey(string key, string where) => new(400, ApiError.InvalidRequest, "duplicate_key",
        $"\"{key}\" appears more than once in {where}. Servers disagree on which copy counts, so TokenPool refuses it: send each key once.", key);

    public static ApiError BodyTooLarge(long limitBytes) => new(413, ApiError.InvalidRequest, "request_too_large",
        $"The request body is larger than the {limitBytes / (1024 * 1024)} MB TokenPool accepts. "
        + "Shorten the conversation (in Codex, run /compact) or send smaller attachments.");

    public static ApiError RateLimited(string scope, string limit, TimeSpan retryAfter) => new ApiError(429, "requests", "rate_limit_exceeded",
        $"Rate limit reached for this {scope}: {limit}. Please try again in {Seconds(retryAfter)}s.")
        .WithHeader("Retry-After", Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture))
        .WithHeader("retry-after-ms", ((long)retryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));

    public static ApiError UpstreamRateLimited(string model, TimeSpan retryAfter) => new ApiError(429, "requests", "rate_limit_exceeded",
        $"Every upstream account that serves \"{model}\" is rate limited right now. Please try again in {Seconds(retryAfter)}s.")
        .WithHeader("Retry-After", Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture));

    public static ApiError NoUpstreamAvailable(string model, TimeSpan? retryAfter)
    {
        var error = new ApiError(503, "server_error", "upstream_unavailable",
            $"No upstream is available for \"{model}\" right now: every channel that serves it is resting after errors. "
            + (retryAfter is { } wait ? $"Please try again in {Seconds(wait)}s." : "Please try again later."));
        return retryAfter is { } after
            ? error.WithHeader("Retry-After", Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture))
            : error;
    }

    public static ApiError UpstreamUnreachable(string model) => new(502, "server_error", "upstream_unreachable",
        $"TokenPool could not reach an upstream for \"{model}\". Please try again shortly.");

    public static ApiError UpstreamTimeout(string model, TimeSpan waited) => new(504, "server_error", "upstream_timeout",
        $"The upstream for \"{model}\" did not answer within {Seconds(waited)} seconds. Please try again.");

    public static ApiError UpstreamRejectedCredentials(string model) => new(502, "server_error", "upstream_unavailable",
        $"The upstream accounts that serve \"{model}\" are unavailable right now. Please try again shortly.");

    public static ApiError UpstreamBadResponse(int status) => new(status >= 500 ? status : 502, "server_error", "upstream_error",
        $"The upstream answered HTTP {status} without an error message TokenPool could read. Please try again.");

    /// <summary>
    /// An upstream's own error for the client: its status, and its type, code, message and param with every
    /// credential taken out (see <see cref="Relay.SecretScrubber"/>); never its body as it came.
    /// </summary>
    public static ApiError FromUpstream(int status, Dialects.UpstreamErrorBody error, string? channelSecret) => new(
        status,
        Relay.SecretScrubber.SafeCode(error.Type) ?? (status >= 500 ? "server_error" : ApiError.InvalidRequest),
        Relay.SecretScrubber.SafeCode(error.Code),
        error.Message is { Length: > 0 } message ? Relay.SecretScrubber.Scrub(message, channelSecret) : $"The upstream answered HTTP {status}. Please try again.",
        Relay.SecretScrubber.SafeCode(error.Param));

    /// <summary>An upstream refused access to the channel's account (403): the operator's to fix, worded by TokenPool.</summary>
    public static ApiError UpstreamForbidden(string model) => new(502, "server_error", "upstream_unavailable",
        $"The upstream accounts that serve \"{model}\" refused access for TokenPool's credentials. This is for the operator of this TokenPool deployment to fix; please try again later.");

    /// <summary>An upstream answered in a compression TokenPool cannot read.</summary>
    public static ApiError UpstreamEncoding(string encoding) => new(502, "server_error", "upstream_error",
        $"The upstream sent its answer compressed with \"{(encoding.Length > 40 ? encoding[..40] : encoding)}\", which TokenPool cannot read. Please try again.");

    public static ApiError StreamCut() => new(502, "server_error", "server_error",
        "The upstream closed the stream before the response was complete. Please try again.");

    public static ApiError StreamIdle(TimeSpan idle) => new(504, "server_error", "server_error",
        $"The upstream sent nothing for {Seconds(idle)} seconds, so TokenPool ended the response. Please try again.");

    public static ApiError StreamTotalTimeout(TimeSpan total) => new(504, "server_error", "server_error",
        $"The response took longer than TokenPool's limit of {Seconds(total)} seconds and was ended. Please try again.");

    /// <summary>The server is stopping (a restart or an upgrade): a new request is refused so the client retries elsewhere or soon.</summary>
    public static ApiError ServerStopping(int retryAfterSeconds) => new ApiError(503, "server_error", "server_shutting_down",
        $"This TokenPool server is restarting and takes no new requests. Please try again in {retryAfterSeconds}s.")
        .WithHeader("Retry-After", retryAfterSeconds.ToString(CultureInfo.InvariantCulture));

    /// <summary>Why TokenPool ended a request that was running, in the words its client shows.</summary>
    public static ApiError Stopped(StopReason reason) => reason switch
    {
        StopReason.KeyRevoked => new(401, ApiError.InvalidRequest, "invalid_api_key",
            "This API key was deleted or disabled while the response was running, so TokenPool ended it. Use another key."),
        StopReason.AccountDisabled => new(403, "permission_error", "account_disabled",
            "The account that owns this API key was disabled while the response was running, so TokenPool ended it. Contact the operator of this TokenPool deployment."),
        _ => new(503, "server_error", "server_shutting_down",
            "This TokenPool server is restarting and ended the response before it was complete. Please send the request again."),
    };

    /// <summary>Too many request bodies are being received at once: a retryable refusal.</summary>
    public static ApiError BodiesBusy(string scope, int retryAfterSeconds) => new ApiError(503, "server_error", "server_busy",
        $"TokenPool is receiving too many large requests {scope} right now. Please try again in {retryAfterSeconds}s.")
        .WithHeader("Retry-After", retryAfterSeconds.ToString(CultureInfo.InvariantCulture));

    public static ApiError Internal(string requestId) => new(500, "server_error", "internal_error",
        $"TokenPool hit an unexpected error while handling this request (request id {requestId}). "
        + "Please try again; if it keeps happening, report the request id to the operator.");

    public static ApiError UnknownPath(string method, string path) => new(404, ApiError.InvalidRequest, "unknown_url",
        $"Unknown API path: {method} {Bounded(path)}. TokenPool serves {Dialects.ApiTable.Served}.");

    /// <summary>
    /// An API request sent to the website or the console (the "website as base_url" mistake): names the
    /// base_url to use instead.
    /// </summary>
    public static ApiError WrongBaseUrl(string webUrl, string method, string path, bool console, IReadOnlyList<string> apiBaseUrls)
    {
        var roots = apiBaseUrls.Select(b => b.TrimEnd('/') + "/v1").ToList();
        var what = console ? $"{webUrl}/console is the TokenPool web console" : $"{webUrl} is the TokenPool website";
        return new(404, ApiError.InvalidRequest, "wrong_base_url",
            $"{what}, not the API endpoint, so it cannot answer {method} {path}. "
            + $"Set base_url in your tool to {roots[0]}"
            + (roots.Count > 1 ? $" (or {string.Join(" or ", roots.Skip(1))})" : "")
            + ". Your API key stays the same.");
    }

    public static ApiError MethodNotAllowed(string method, string path) => new(405, ApiError.InvalidRequest, "method_not_allowed",
        $"{Bounded(method)} is not allowed on {Bounded(path)}. TokenPool serves {Dialects.ApiTable.Served}.");

    /// <summary>A client's path or method as echoed in a message: at most 200 characters.</summary>
    private static string Bounded(string text) => text.Length <= 200 ? text : text[..200] + "…";

    private static string Seconds(TimeSpan span) => Math.Max(0.1, Math.Round(span.TotalSeconds, 1)).ToString("0.#", CultureInfo.InvariantCulture);
}
