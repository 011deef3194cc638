using System.Text.Json;

namespace TokenPool.Simulator;

/// <summary>
/// Error bodies as each real server writes them (protocols.md §5, §10.6, §11.1):
/// <list type="table">
/// <item><term>OpenAI, DeepSeek</term><description><c>{"error":{"message","type","param","code":"string"}}</c></description></item>
/// <item><term>vLLM</term><description><c>{"error":{"message","type":"BadRequestError","param","code":400}}</c> (an integer code)</description></item>
/// <item><term>Ollama</term><description><c>{"error":{"message","type","param":null,"code":null}}</c></description></item>
/// <item><term>SGLang</term><description>flat: <c>{"object":"error","message","type","param","code":400}</c></description></item>
/// <item><term>Anthropic</term><description><c>{"type":"error","error":{"type","message"},"request_id"}</c></description></item>
/// </list>
/// With <c>leak</c>, every message also carries credentials, as careless upstreams do (issue 15): the
/// request's own key, another <c>sk-</c> key, an organisation id and a JWT.
/// </summary>
internal static class SimulatorErrors
{
    /// <summary>A JWT-shaped session token that error bodies leak under <c>leak</c>.</summary>
    public const string LeakedJwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ0b2tlbnBvb2wtc2ltIiwib3JnIjoib3JnLXNpbUxlYWsifQ.c2ltdWxhdGVkLXNpZ25hdHVyZQ";

    /// <summary>An organisation id that error bodies leak under <c>leak</c>.</summary>
    public const string LeakedOrganization = "org-SimLeak7Hq2Vn4Xw9Kd3Pz";

    /// <summary>A project key (not the request's) that error bodies leak under <c>leak</c>.</summary>
    public const string LeakedProjectKey = "sk-proj-SimLeakQ8Lm2Zr5Tw7Yb4Nc6Vd1Hx3Jk9";

    /// <summary>The message with credentials appended, as an upstream that echoes its request context writes it.</summary>
    public static string Leak(string message, string? ownKey) =>
        $"{message} (request for key Bearer {ownKey ?? "<none>"}, organization {LeakedOrganization}, project key {LeakedProjectKey}, session {LeakedJwt})";

    /// <summary>The error body a server of this flavour answers with, for a request in this API.</summary>
    public static byte[] Body(SimulatorFlavor flavor, SimulatedApi api, int status, string? code, string message)
    {
        if (api == SimulatedApi.Messages || flavor == SimulatorFlavor.Anthropic)
        {
            return Wire.Json(w =>
            {
                w.WriteStartObject();
                w.WriteString("type", "error");
                w.WriteStartObject("error");
                w.WriteString("type", code ?? AnthropicType(status));
                w.WriteString("message", message);
                w.WriteEndObject();
                w.WriteString("request_id", "req_011" + Wire.Id(21));
                w.WriteEndObject();
            });
        }

        return flavor switch
        {
            SimulatorFlavor.SgLang => Wire.Json(w =>
            {
                w.WriteStartObject();
                PythonError(w, status, message);
                w.WriteEndObject();
            }),
            SimulatorFlavor.Vllm => Wire.Json(w =>
            {
                w.WriteStartObject();
                w.WriteStartObject("error");
                w.WriteString("message", message);
                w.WriteString("type", PythonType(status));
                w.WriteNull("param");
                w.WriteNumber("code", status);
                w.WriteEndObject();
                w.WriteEndObject();
            }),
            _ => Wire.Json(w =>
            {
                w.WriteStartObject();
                w.WriteStartObject("error");
                w.WriteString("message", message);
                w.WriteString("type", OpenAiType(flavor, status, code));
                w.WriteNull("param");
                if (code is null || flavor == SimulatorFlavor.Ollama)
                {
                    w.WriteNull("code");
                }
                else
                {
                    w.WriteString("code", code);
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }),
        };
    }

    /// <summary>The <c>data:</c> payload of an error inside a Chat stream.</summary>
    public static byte[] ChatStreamError(SimulatorFlavor flavor, string? code, string message) =>
        Body(flavor, SimulatedApi.Chat, 500, code ?? (flavor == SimulatorFlavor.Ollama ? null : "server_error"), message);

    /// <summary>The message a real server would give for this status when the test names none.</summary>
    public static string DefaultMessage(SimulatorFlavor flavor, SimulatedApi api, int status, string? code)
    {
        if (api == SimulatedApi.Messages || flavor == SimulatorFlavor.Anthropic)
        {
            return status switch
            {
                401 => "invalid x-api-key",
                403 => "Your API key does not have permission to use the specified resource.",
                404 => "The requested resource could not be found.",
                413 => "Request exceeds the maximum allowed number of bytes.",
                429 => "This request would exceed your organization's rate limit. Please try again later.",
                529 => "Overloaded",
                >= 500 => "Internal server error",
                _ => $"Simulated error {status}.",
            };
        }

        return (status, code) switch
        {
            (401, _) when flavor == SimulatorFlavor.DeepSeek => "Authentication Fails, Your api key: ****sim is invalid",
            (401, _) => "Incorrect API key provided: sk-sim-****. You can find your API key at https://platform.openai.com/account/api-keys.",
            (402, _) => "Insufficient Balance",
            (429, "insufficient_quota") => "You exceeded your current quota, please check your plan and billing details.",
            (429, _) => "Rate limit reached for requests. Please try again in 1.5s.",
            (400, "context_length_exceeded") => "This model's maximum context length is 400000 tokens. However, your messages resulted in 401000 tokens.",
            (400, "invalid_encrypted_content") => "The encrypted content for item rs_sim could not be verified.",
            (>= 500, _) => "The server had an error while processing your request. Sorry about that!",
            _ => $"Simulated error {status}.",
        };
    }

    /// <summary>Anthropic's error type for a status (§10.6).</summary>
    public static string AnthropicType(int status) => status switch
    {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        >= 500 => "api_error",
        _ => "invalid_request_error",
    };

    private static void PythonError(Utf8JsonWriter w, int status, string message)
    {
        w.WriteString("object", "error");
        w.WriteString("message", message);
        w.WriteString("type", PythonType(status));
        w.WriteNull("param");
        w.WriteNumber("code", status);
    }

    private static string PythonType(int status) => status switch
    {
        400 or 422 => "BadRequestError",
        401 => "Unauthorized",
        404 => "NotFoundError",
        429 => "TooManyRequests",
        503 => "ServiceUnavailableError",
        >= 500 => "InternalServerError",
        _ => "BadRequestError",
    };

    private static string OpenAiType(SimulatorFlavor flavor, int status, string? code) => flavor switch
    {
        SimulatorFlavor.Ollama => status switch
        {
            400 => "invalid_request_error",
            404 => "not_found_error",
            _ => "api_error",
        },
        SimulatorFlavor.DeepSeek => status switch
        {
            401 => "authentication_error",
            402 => "insufficient_balance_error",
            429 => "rate_limit_error",
            >= 500 => "server_error",
            _ => "invalid_request_error",
        },
        _ => status switch
        {
            401 => "invalid_request_error",
            429 when code == "insufficient_quota" => "insufficient_quota",
            429 => "requests",
            >= 500 => "server_error",
            _ => "invalid_request_error",
        },
    };
}
