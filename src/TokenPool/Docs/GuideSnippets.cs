using System.Collections.Frozen;
using System.Text;
using System.Text.RegularExpressions;
using TokenPool.Gateway;
using TokenPool.Keys;

namespace TokenPool.Docs;

/// <summary>
/// Expands the placeholders in a guide (<c>{{codex-config}}</c>, <c>{{error:missing-key}}</c>, ...) with
/// this deployment's addresses. Configuration comes from <see cref="ClientSetup"/> and error messages
/// from <see cref="GatewayErrors"/>, so a guide shows exactly what the console hands out and what the
/// API answers.
/// </summary>
/// <param name="ApiBaseUrls">The API base URLs (no <c>/v1</c>), recommended first.</param>
/// <param name="WebUrl">The website's address: console and docs.</param>
internal sealed partial record GuideSnippets(IReadOnlyList<string> ApiBaseUrls, string WebUrl)
{
    /// <summary>The model the guides use in examples.</summary>
    public const string ExampleModel = "gpt-5.5";

    /// <summary>The small model OpenCode is given for session titles.</summary>
    public const string ExampleSmallModel = "gpt-5.4-nano";

    private static readonly KeyIdentity SampleKey = new(
        0, "", 0, ApiKeyFormat.Mask("sk-tp-Ab3d", "wxyz"), ApiKeyStatus.Active, new DateTime(2026, 5, 1, 12, 0, 0, DateTimeKind.Utc), null, false, null,
        RequestLimits.None, RequestLimits.None);

    public string ApiBaseUrl => ApiBaseUrls[0];

    public ClientSetup Setup => new(ApiBaseUrl, ClientSetup.KeyPlaceholder, ExampleModel, ExampleSmallModel);

    /// <summary>Identifies the addresses, for caching rendered pages.</summary>
    public string CacheKey => string.Join('|', ApiBaseUrls) + "|" + WebUrl;

    public string KeysPage => WebUrl + "/console/api-keys";

    public string UsagePage => WebUrl + "/console/usage";

    public string ModelsPage => WebUrl + "/models";

    /// <summary>Every placeholder a guide may use.</summary>
    public static readonly FrozenSet<string> Names = new[]
    {
        "api-base", "api-root", "api-root-alt", "api-roots", "web", "keys-page", "usage-page", "models-page",
        "codex-auth", "codex-config", "opencode-json", "opencode-compatible-json", "env", "curl", "ccswitch-codex", "ccswitch-opencode",
        "error:missing-key", "error:not-bearer", "error:incomplete-key", "error:mistyped-key", "error:foreign-key", "error:not-a-key",
        "error:unknown-key", "error:deleted-key", "error:disabled-key", "error:expired-key", "error:account-disabled",
        "error:model-not-found", "error:model-not-allowed", "error:insufficient-quota", "error:key-spend-limit",
        "error:website-base-url", "error:console-base-url", "error:unknown-path",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Replaces every <c>{{name}}</c>. An unknown name is a mistake in the guide and throws.</summary>
    public string Expand(string markdown) => Placeholder().Replace(markdown, match =>
        Value(match.Groups[1].Value) ?? throw new FormatException($"Unknown placeholder {match.Value} in a guide."));

    private string? Value(string name)
    {
        var setup = Setup;
        var roots = ApiBaseUrls.Select(b => b.TrimEnd('/') + "/v1").ToList();
        return name switch
        {
            "api-base" => ApiBaseUrl,
            "api-root" => roots[0],
            "api-root-alt" => roots.Count > 1 ? roots[1] : roots[0],
            "api-roots" => string.Join('\n', roots.Select((r, i) => $"- `{r}`" + (i == 0 ? " (recommended)" : ""))),
            "web" => WebUrl,
            "keys-page" => KeysPage,
            "usage-page" => UsagePage,
            "models-page" => ModelsPage,
            "codex-auth" => Fence("json", setup.CodexAuthJson()),
            "codex-config" => Fence("toml", setup.CodexConfigToml()),
            "opencode-json" => Fence("json", setup.OpenCodeJson()),
            "opencode-compatible-json" => Fence("json", setup.OpenCodeCompatibleJson()),
            "env" => Fence("sh", setup.EnvironmentVariables()),
            "curl" => Fence("sh", setup.CurlTest()),
            "ccswitch-codex" => Fence("text", setup.CcSwitchLink("codex", WebUrl)),
            "ccswitch-opencode" => Fence("text", setup.CcSwitchLink("opencode", WebUrl)),
            _ when name.StartsWith("error:", StringComparison.Ordinal) => Error(name[6..]) is { } error ? Fence("text", error.Message) : null,
            _ => null,
        };
    }

    private ApiError? Error(string name) => name switch
    {
        "missing-key" => GatewayErrors.MissingKey(KeysPage),
        "not-bearer" => GatewayErrors.NotBearer(KeysPage),
        "incomplete-key" => GatewayErrors.BadKeyShape(ApiKeyShape.TooShort, 40, KeysPage),
        "mistyped-key" => GatewayErrors.BadKeyShape(ApiKeyShape.ChecksumMismatch, ApiKeyFormat.Length, KeysPage),
        "foreign-key" => GatewayErrors.BadKeyShape(ApiKeyShape.ForeignKey, 51, KeysPage),
        "not-a-key" => GatewayErrors.BadKeyShape(ApiKeyShape.NotAKey, 12, KeysPage),
        "unknown-key" => GatewayErrors.UnknownKey("sk-tp-Ab3d" + new string('x', ApiKeyFormat.Length - 14) + "wxyz", KeysPage),
        "deleted-key" => GatewayErrors.Refused(KeyRefusal.Deleted, SampleKey, KeysPage),
        "disabled-key" => GatewayErrors.Refused(KeyRefusal.Disabled, SampleKey, KeysPage),
        "expired-key" => GatewayErrors.Refused(KeyRefusal.Expired, SampleKey, KeysPage),
        "account-disabled" => GatewayErrors.Refused(KeyRefusal.AccountDisabled, SampleKey, KeysPage),
        "model-not-found" => GatewayErrors.ModelNotFound("gpt-5.5-codex", ExampleModel, ApiBaseUrl, ModelsPage),
        "model-not-allowed" => GatewayErrors.ModelNotAllowed("gpt-5.4", [ExampleModel, ExampleSmallModel], KeysPage),
        "insufficient-quota" => GatewayErrors.InsufficientQuota(0, 165_000, UsagePage),
        "key-spend-limit" => GatewayErrors.KeySpendLimit(SampleKey.Mask, 5_000_000, UsagePage, KeysPage),
        "website-base-url" => GatewayErrors.WrongBaseUrl(WebUrl, "POST", "/v1/responses", false, ApiBaseUrls),
        "console-base-url" => GatewayErrors.WrongBaseUrl(WebUrl, "POST", "/console/responses", true, ApiBaseUrls),
        "unknown-path" => GatewayErrors.UnknownPath("POST", "/v1/respones"),
        _ => null,
    };

    private static string Fence(string language, string content)
    {
        var text = new StringBuilder("```").Append(language).Append('\n').Append(content);
        if (!content.EndsWith('\n'))
        {
            text.Append('\n');
        }

        return text.Append("```").ToString();
    }

    [GeneratedRegex(@"\{\{([a-z0-9:-]+)\}\}")]
    private static partial Regex Placeholder();
}
