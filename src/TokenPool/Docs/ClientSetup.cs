using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenPool.Docs;

/// <summary>
/// The one source of every client configuration TokenPool hands out: the console's "Configure" panel,
/// the docs' guides, <c>tokenpool doctor</c>'s suggestions and the end-to-end tests (which run the real
/// Codex CLI and OpenCode with exactly these files), so a snippet that stops working fails a test.
/// </summary>
/// <param name="ApiBaseUrl">The deployment's API base URL without <c>/v1</c>, e.g. <c>https://api.clawto.link</c>.</param>
/// <param name="Key">The API key to fill in, or a placeholder in the docs.</param>
/// <param name="Model">The model the client should use.</param>
/// <param name="SmallModel">A cheap model the key may use, for OpenCode's session titles.</param>
internal sealed record ClientSetup(string ApiBaseUrl, string Key, string Model, string SmallModel)
{
    /// <summary>Shown in the docs where a user's own key goes.</summary>
    public const string KeyPlaceholder = "<your TokenPool API key>";

    /// <summary>The provider id used in Codex and OpenCode configuration.</summary>
    public const string ProviderId = "tokenpool";

    /// <summary>The API root clients are given: base URL plus <c>/v1</c>.</summary>
    public string ApiRoot => ApiBaseUrl.TrimEnd('/') + "/v1";

    /// <summary><c>~/.codex/auth.json</c>: the key lives here, never in config.toml.</summary>
    public string CodexAuthJson() =>
        new JsonObject { ["OPENAI_API_KEY"] = Key }.ToJsonString(Indented) + "\n";

    /// <summary>
    /// <c>~/.codex/config.toml</c> as Codex 0.169 accepts it without warnings: Responses API only
    /// (<c>wire_api = "chat"</c> is rejected), no <c>disable_response_storage</c> (ignored: Codex always
    /// sends <c>store: false</c> to a custom provider).
    /// </summary>
    public string CodexConfigToml() =>
        $"""
        model_provider = "{ProviderId}"
        model = "{Toml(Model)}"
        model_reasoning_effort = "medium"

        [model_providers.{ProviderId}]
        name = "TokenPool"
        base_url = "{Toml(ApiRoot)}"
        wire_api = "responses"
        requires_openai_auth = true

        """;

    /// <summary>
    /// <c>~/.config/opencode/opencode.json</c>: a provider on OpenCode's built-in OpenAI (Responses API)
    /// driver, with the models declared so that OpenCode needs no network look-up, and a
    /// <c>small_model</c> this key may use for session titles.
    /// </summary>
    public string OpenCodeJson() => OpenCode("@ai-sdk/openai");

    /// <summary>
    /// <c>opencode.json</c> with an OpenAI-compatible provider (Chat Completions), the shape CC Switch writes
    /// for OpenCode. For servers or tools that speak only Chat Completions; the Responses form above is preferred.
    /// </summary>
    public string OpenCodeCompatibleJson() => OpenCode("@ai-sdk/openai-compatible");

    /// <summary>Environment variables for tools that read the OpenAI variables (the OpenAI SDKs, many scripts).</summary>
    public string EnvironmentVariables() =>
        $"""
        export OPENAI_API_KEY="{Key}"
        export OPENAI_BASE_URL="{ApiRoot}"

        """;

    /// <summary>A one-click import into CC Switch for Codex or OpenCode. The link carries the key: show it only to its owner.</summary>
    public string CcSwitchLink(string app, string homepage)
    {
        var query = new StringBuilder("ccswitch://v1/import?resource=provider");
        Append(query, "app", app);
        Append(query, "name", "TokenPool");
        Append(query, "endpoint", ApiRoot);
        Append(query, "apiKey", Key);
        Append(query, "homepage", homepage);
        Append(query, "model", Model);

        // The balance widget: CC Switch's own "General" usage template, which TokenPool answers at /v1/user/balance.
        Append(query, "usageEnabled", "true");
        Append(query, "usageScript", Convert.ToBase64String(Encoding.UTF8.GetBytes(CcSwitchUsageScript)));
        return query.ToString();
    }

    /// <summary>
    /// CC Switch's built-in "General" usage-query template, unchanged: CC Switch fills in the provider's
    /// base URL and key and shows <c>balance</c> in US dollars.
    /// </summary>
    public const string CcSwitchUsageScript = """
        ({
          request: {
            url: "{{baseUrl}}/user/balance",
            method: "GET",
            headers: {
              "Authorization": "Bearer {{apiKey}}",
              "User-Agent": "cc-switch/1.0"
            }
          },
          extractor: function(response) {
            return {
              isValid: response.is_active || true,
              remaining: response.balance,
              unit: "USD"
            };
          }
        })
        """;

    /// <summary>A <c>curl</c> command that sends one small request, to check a key by hand.</summary>
    public string CurlTest() =>
        $$"""
        curl {{ApiRoot}}/responses \
          -H "Authorization: Bearer {{Key}}" \
          -H "Content-Type: application/json" \
          -d '{"model":"{{Model}}","input":"Say hello"}'

        """;

    private static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private string OpenCode(string npm)
    {
        var models = new JsonObject();
        foreach (var model in new[] { Model, SmallModel }.Distinct(StringComparer.Ordinal))
        {
            models[model] = new JsonObject { ["name"] = $"{model} (TokenPool)" };
        }

        var config = new JsonObject
        {
            ["$schema"] = "https://opencode.ai/config.json",
            ["provider"] = new JsonObject
            {
                [ProviderId] = new JsonObject
                {
                    ["npm"] = npm,
                    ["name"] = "TokenPool",
                    ["options"] = new JsonObject { ["baseURL"] = ApiRoot, ["apiKey"] = Key },
                    ["models"] = models,
                },
            },
            ["model"] = $"{ProviderId}/{Model}",
            ["small_model"] = $"{ProviderId}/{SmallModel}",
        };
        return config.ToJsonString(Indented) + "\n";
    }

    private static string Toml(string value) => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);

    private static void Append(StringBuilder query, string name, string value) =>
        query.Append('&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
}
