using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TokenPool.Gateway;
using TokenPool.Keys;

namespace TokenPool.Cli;

/// <summary>Where <c>tokenpool doctor</c> looks, and whether it may send a small paid request.</summary>
/// <param name="Environment">Reads an environment variable (HOME, CODEX_HOME, XDG_CONFIG_HOME, a provider's env_key).</param>
/// <param name="SendTestRequest">Send one tiny request to check the model and quota end to end.</param>
internal sealed record DoctorSettings(Func<string, string?> Environment, bool SendTestRequest = true)
{
    public string Home => Environment("HOME") is { Length: > 0 } home ? home : System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);

    public string CodexHome => Environment("CODEX_HOME") is { Length: > 0 } dir ? dir : Path.Combine(Home, ".codex");

    public string OpenCodeConfig =>
        Path.Combine(Environment("XDG_CONFIG_HOME") is { Length: > 0 } xdg ? xdg : Path.Combine(Home, ".config"), "opencode", "opencode.json");
}

/// <summary>
/// <c>tokenpool doctor</c>: reads the Codex and OpenCode configuration on this machine, finds the common
/// mistakes (website as base_url, key in config.toml, cut-short key, wire_api chat, auth.json inside a Git
/// repository, unknown model), then asks the configured API whether the key, model and quota work, and
/// prints what to fix. It never prints a key: at most its first ten and last four characters.
/// </summary>
internal sealed class Doctor(DoctorSettings settings, TextWriter output, HttpClient http)
{
    /// <summary>Hosts of TokenPool's website and static files: never an API endpoint.</summary>
    private static readonly string[] WebsiteHosts = ["tokenpool.dev", "www.tokenpool.dev", "cdn.tokenpool.dev"];

    private static readonly string[] KeyNamesInToml = ["api_key", "apikey", "openai_api_key", "experimental_bearer_token", "bearer_token", "key"];

    private int _problems;
    private int _warnings;

    /// <summary>Runs every check; returns 0 when nothing needs fixing, 1 otherwise.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        output.WriteLine("TokenPool doctor: checking this machine's Codex and OpenCode set-up.");
        var codex = await CheckCodexAsync(cancellationToken);
        var openCode = await CheckOpenCodeAsync(cancellationToken);
        output.WriteLine();
        if (!codex && !openCode)
        {
            output.WriteLine($"Found no Codex configuration ({settings.CodexHome}) and no OpenCode configuration ({settings.OpenCodeConfig}).");
            output.WriteLine("See the Codex CLI and OpenCode guides in the docs to set one up.");
            return 1;
        }

        output.WriteLine(_problems == 0
            ? _warnings == 0 ? "Everything looks right." : $"No problems; {_warnings} warning(s) above."
            : $"{_problems} problem(s) to fix, listed above.");
        return _problems == 0 ? 0 : 1;
    }

    private async Task<bool> CheckCodexAsync(CancellationToken cancellationToken)
    {
        var home = settings.CodexHome;
        var authPath = Path.Combine(home, "auth.json");
        var configPath = Path.Combine(home, "config.toml");
        if (!File.Exists(authPath) && !File.Exists(configPath))
        {
            return false;
        }

        output.WriteLine();
        output.WriteLine($"Codex ({home})");
        var entries = File.Exists(configPath) ? SimpleToml.Parse(await File.ReadAllTextAsync(configPath, cancellationToken)) : [];
        if (!File.Exists(configPath))
        {
            Problem("config.toml is missing.", "Create it with the provider snippet from the Codex CLI guide or the console's Configure button.");
        }

        string? Top(string key) => entries.FirstOrDefault(e => e.Table.Length == 0 && e.Key == key)?.Value;
        var providerId = Top("model_provider");
        var model = Top("model");
        var table = providerId is null ? null : $"model_providers.{providerId}";
        string? Provider(string key) => entries.FirstOrDefault(e => e.Table == table && e.Key == key)?.Value;

        foreach (var entry in entries.Where(e => LooksLikeKeyEntry(e)))
        {
            Problem($"config.toml holds an API key (line {entry.Line}, \"{entry.Key}\"). Codex does not read a key from config.toml, so requests go out without one.",
                "Move the key into auth.json as {\"OPENAI_API_KEY\": \"<key>\"} and delete that line from config.toml.");
        }

        if (Top("disable_response_storage") is not null)
        {
            Warning("config.toml sets disable_response_storage, which Codex 0.169 ignores (it always sends store: false).", "Delete the line.");
        }

        string? baseUrl = null;
        if (File.Exists(configPath))
        {
            if (providerId is null || providerId.Equals("openai", StringComparison.OrdinalIgnoreCase) && Provider("base_url") is null)
            {
                Problem("config.toml does not choose a TokenPool provider (model_provider), so Codex calls OpenAI directly.",
                    "Add model_provider = \"tokenpool\" and a [model_providers.tokenpool] table, as in the Codex CLI guide.");
            }
            else if (Provider("base_url") is not { Length: > 0 } url)
            {
                Problem($"[{table}] has no base_url.", "Set base_url to TokenPool's API endpoint, e.g. https://api.clawto.link/v1.");
            }
            else if (CheckBaseUrl(url, $"[{table}] base_url"))
            {
                baseUrl = url;
            }

            if (providerId is not null && Provider("wire_api") is "chat")
            {
                Problem($"[{table}] sets wire_api = \"chat\", which Codex 0.169 rejects (\"no longer supported\").", "Set wire_api = \"responses\".");
            }

            if (model is null)
            {
                Warning("config.toml sets no model, so Codex picks its own default, which TokenPool may not serve.", "Set model = \"gpt-5.5\" (or another name from the models page).");
            }
        }

        string? key = null;
        if (providerId is not null && Provider("env_key") is { Length: > 0 } envKey)
        {
            key = settings.Environment(envKey);
            if (key is null)
            {
                Problem($"[{table}] reads the key from the environment variable {envKey}, which is not set here.", $"Set {envKey}, or remove env_key and put the key in auth.json.");
            }
        }
        else if (!File.Exists(authPath))
        {
            Problem("auth.json is missing, so Codex has no API key to send.", "Create auth.json containing {\"OPENAI_API_KEY\": \"<your TokenPool API key>\"}.");
        }
        else
        {
            key = await ReadAuthKeyAsync(authPath, cancellationToken);
        }

        if (File.Exists(authPath) && GitRepositoryAbove(home) is { } repository)
        {
            Problem($"auth.json is inside the Git repository at {repository}: the key could be committed and leaked.",
                "Move the Codex folder out of the repository (or set CODEX_HOME elsewhere), or at least add auth.json to .gitignore. If it was ever committed, delete the key in the console and create a new one.");
        }

        if (key is not null && CheckKey(key, "auth.json") && baseUrl is not null)
        {
            await ProbeAsync(baseUrl, key, model, null, cancellationToken);
        }

        return true;
    }

    private async Task<string?> ReadAuthKeyAsync(string authPath, CancellationToken cancellationToken)
    {
        try
        {
            var auth = JsonNode.Parse(await File.ReadAllTextAsync(authPath, cancellationToken)) as JsonObject;
            if (auth?["OPENAI_API_KEY"]?.GetValueKind() == JsonValueKind.String && auth["OPENAI_API_KEY"]!.GetValue<string>() is { Length: > 0 } value)
            {
                return value.Trim();
            }

            Problem("auth.json has no OPENAI_API_KEY.", "Set it: {\"OPENAI_API_KEY\": \"<your TokenPool API key>\"}.");
        }
        catch (JsonException ex)
        {
            Problem($"auth.json is not valid JSON ({ex.Message}).", "Rewrite it as {\"OPENAI_API_KEY\": \"<your TokenPool API key>\"}.");
        }

        return null;
    }

    private async Task<bool> CheckOpenCodeAsync(CancellationToken cancellationToken)
    {
        var path = settings.OpenCodeConfig;
        if (!File.Exists(path))
        {
            return false;
        }

        output.WriteLine();
        output.WriteLine($"OpenCode ({path})");
        JsonObject? config;
        try
        {
            config = OpenCodeConfigFile.Parse(await File.ReadAllTextAsync(path, cancellationToken));
        }
        catch (JsonException ex)
        {
            Problem($"opencode.json is not valid JSON ({ex.Message}).", "Fix the file; the OpenCode guide shows a complete one.");
            return true;
        }

        var providers = config?["provider"] as JsonObject;
        var found = false;
        foreach (var (id, node) in providers ?? [])
        {
            var options = node?["options"] as JsonObject;
            var baseUrl = Text(options?["baseURL"]);
            var rawKey = Text(options?["apiKey"]);
            var key = ResolveOpenCodeValue(rawKey);
            var isTokenPool = id == "tokenpool" || key?.StartsWith(ApiKeyFormat.Prefix, StringComparison.Ordinal) == true
                || (baseUrl is not null && (baseUrl.Contains("tokenpool", StringComparison.OrdinalIgnoreCase) || baseUrl.Contains("clawto", StringComparison.OrdinalIgnoreCase)));
            if (!isTokenPool)
            {
                continue;
            }

            found = true;
            output.WriteLine($"  provider \"{id}\":");
            if (baseUrl is null)
            {
                Problem($"provider \"{id}\" has no options.baseURL, so OpenCode calls OpenAI directly with a TokenPool key.", "Set options.baseURL to TokenPool's API endpoint, e.g. https://api.clawto.link/v1.");
            }
            else if (!CheckBaseUrl(baseUrl, $"provider \"{id}\" baseURL"))
            {
                baseUrl = null;
            }

            if (key is null)
            {
                Problem(rawKey is null ? $"provider \"{id}\" has no options.apiKey." : $"provider \"{id}\" reads its key from {rawKey}, which is empty here.",
                    "Set options.apiKey to your TokenPool API key.");
            }

            var model = ModelFor(Text(config?["model"]), id);
            var smallModel = ModelFor(Text(config?["small_model"]), id);
            if (key is not null && CheckKey(key, $"provider \"{id}\" apiKey") && baseUrl is not null)
            {
                await ProbeAsync(baseUrl, key, model, smallModel, cancellationToken);
            }
        }

        if (!found)
        {
            Warning("opencode.json has no TokenPool provider.", "Add the provider from the OpenCode guide or the console's Configure button.");
        }

        return true;
    }

    /// <summary>Checks a key's shape offline; prints only its masked form. False when it cannot work.</summary>
    private bool CheckKey(string key, string where)
    {
        var shape = ApiKeyFormat.Check(key);
        var shown = Masked(key);
        switch (shape)
        {
            case ApiKeyShape.Valid:
                Ok($"{where} holds a complete TokenPool key ({shown}).");
                return true;
            case ApiKeyShape.TooShort:
                Problem($"The key in {where} ({shown}) looks incomplete: it has {key.Length} of its {ApiKeyFormat.Length} characters.", "Copy the whole key again from the console with the Copy button.");
                return false;
            case ApiKeyShape.ForeignKey:
                Problem($"The key in {where} ({shown}) is not a TokenPool key (those start with \"{ApiKeyFormat.Prefix}\"); it looks like another provider's key.", "Copy your TokenPool key from the console.");
                return false;
            case ApiKeyShape.NotAKey:
                Problem($"The value in {where} ({key.Length} characters) is not an API key. TokenPool keys start with \"{ApiKeyFormat.Prefix}\" and are {ApiKeyFormat.Length} characters long.", "Copy your key from the console; your password will not work.");
                return false;
            default:
                Problem($"The key in {where} ({shown}) looks incomplete or mistyped: its checksum does not match.", "Copy the whole key again from the console with the Copy button rather than by hand.");
                return false;
        }
    }

    /// <summary>False when the address cannot be TokenPool's API (then it is not called).</summary>
    private bool CheckBaseUrl(string url, string where)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
        {
            Problem($"{where} \"{url}\" is not a web address.", "Set it to TokenPool's API endpoint, e.g. https://api.clawto.link/v1.");
            return false;
        }

        var path = uri.AbsolutePath;
        if (WebsiteHosts.Contains(uri.Host, StringComparer.OrdinalIgnoreCase) || path.StartsWith("/console", StringComparison.OrdinalIgnoreCase) || path.StartsWith("/docs", StringComparison.OrdinalIgnoreCase))
        {
            Problem($"{where} is {url}, the TokenPool website or console, not the API endpoint.", "Set it to https://api.clawto.link/v1 (or https://api.tokenpool.dev/v1).");
            return false;
        }

        return true;
    }

    /// <summary>Asks the API itself: the key (GET /models), the model (in that list) and the quota (one tiny request).</summary>
    private async Task ProbeAsync(string baseUrl, string key, string? model, string? smallModel, CancellationToken cancellationToken)
    {
        var root = baseUrl.TrimEnd('/');
        List<string>? models;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, root + "/models");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            request.Headers.Accept.ParseAdd("application/json");
            using var response = await http.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                ReportApiError(root + "/models", (int)response.StatusCode, body);
                return;
            }

            models = ModelIds(body);
            if (models is null)
            {
                Problem($"{root}/models answered with something that is not TokenPool's API (a web page?).", "Check base_url: it must be TokenPool's API endpoint, e.g. https://api.clawto.link/v1.");
                return;
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Problem($"Could not reach {root} ({ex.Message}).", "Check base_url and your network connection.");
            return;
        }

        Ok($"The API at {root} accepts the key; it may use {models.Count} model(s).");
        foreach (var name in new[] { model, smallModel }.Where(m => m is not null).Distinct(StringComparer.Ordinal))
        {
            if (models.Contains(name!, StringComparer.Ordinal))
            {
                Ok($"The model \"{name}\" is available.");
            }
            else
            {
                var closest = models.OrderBy(m => ModelNames.Distance(name!.ToLowerInvariant(), m.ToLowerInvariant())).FirstOrDefault();
                Problem($"The model \"{name}\" is not available with this key." + (closest is null ? "" : $" Did you mean \"{closest}\"?"),
                    $"Use one of: {string.Join(", ", models)}.");
            }
        }

        if (settings.SendTestRequest && model is not null && models.Contains(model, StringComparer.Ordinal))
        {
            await TestRequestAsync(root, key, model, cancellationToken);
        }
    }

    private async Task TestRequestAsync(string root, string key, string model, CancellationToken cancellationToken)
    {
        var payload = new JsonObject { ["model"] = model, ["input"] = "Reply with OK.", ["max_output_tokens"] = 16, ["store"] = false };
        using var request = new HttpRequestMessage(HttpMethod.Post, root + "/responses") { Content = new StringContent(payload.ToJsonString(), Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        try
        {
            using var response = await http.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                Ok($"A tiny test request to \"{model}\" succeeded: the key has quota.");
            }
            else
            {
                ReportApiError(root + "/responses", (int)response.StatusCode, body);
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            Problem($"The test request to {root}/responses failed ({ex.Message}).", "Try again; if it keeps failing, check base_url and your network.");
        }
    }

    private void ReportApiError(string url, int status, string body)
    {
        string? message = null;
        string? code = null;
        try
        {
            if (JsonNode.Parse(body)?["error"] is JsonObject error)
            {
                message = Text(error["message"]);
                code = Text(error["code"]);
            }
        }
        catch (JsonException)
        {
            // Not JSON: reported below.
        }

        if (message is null)
        {
            Problem($"{url} answered HTTP {status} with a page that is not TokenPool's API.", "Check base_url: it must be TokenPool's API endpoint, e.g. https://api.clawto.link/v1.");
            return;
        }

        var fix = code switch
        {
            "insufficient_quota" => "Add quota in the console (Usage), or ask the operator for credit.",
            "wrong_base_url" => "Change base_url as the message says.",
            "model_not_found" or "model_not_allowed" => "Change the model as the message says.",
            "invalid_api_key" => "Fix the key as the message says.",
            _ => "See the troubleshooting guide for this message.",
        };
        Problem($"{url} answered HTTP {status}: {message}", fix);
    }

    private static List<string>? ModelIds(string body)
    {
        try
        {
            return JsonNode.Parse(body)?["data"] is JsonArray data
                ? [.. data.Select(m => Text(m?["id"])).OfType<string>()]
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool LooksLikeKeyEntry(TomlEntry entry) =>
        entry.Value.Contains(ApiKeyFormat.Prefix, StringComparison.Ordinal)
        || (KeyNamesInToml.Contains(entry.Key.ToLowerInvariant()) && entry.Value.Length > 0 && !entry.Value.StartsWith('{'));

    private string? ResolveOpenCodeValue(string? value)
    {
        if (value is null)
        {
            return null;
        }

        if (value.StartsWith("{env:", StringComparison.Ordinal) && value.EndsWith('}'))
        {
            return settings.Environment(value[5..^1]) is { Length: > 0 } fromEnv ? fromEnv.Trim() : null;
        }

        if (value.StartsWith("{file:", StringComparison.Ordinal) && value.EndsWith('}'))
        {
            var file = value[6..^1].Replace("~", settings.Home, StringComparison.Ordinal);
            return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
        }

        return value.Trim();
    }

    private static string? ModelFor(string? reference, string providerId) =>
        reference is not null && reference.StartsWith(providerId + "/", StringComparison.Ordinal) ? reference[(providerId.Length + 1)..] : null;

    private static string? GitRepositoryAbove(string directory)
    {
        for (var dir = new DirectoryInfo(Path.GetFullPath(directory)); dir is not null; dir = dir.Parent)
        {
            if (Directory.Exists(Path.Combine(dir.FullName, ".git")) || File.Exists(Path.Combine(dir.FullName, ".git")))
            {
                return dir.FullName;
            }
        }

        return null;
    }

    /// <summary>At most the first ten and last four characters, as the console shows a key.</summary>
    internal static string Masked(string key) =>
        key.Length >= 20 ? ApiKeyFormat.Mask(key[..10], key[^4..]) : $"{key.Length} characters";

    private static string? Text(JsonNode? node) => node?.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : null;

    private void Ok(string message) => output.WriteLine($"  ok       {message}");

    private void Warning(string message, string fix)
    {
        _warnings++;
        output.WriteLine($"  warning  {message}");
        output.WriteLine($"           fix: {fix}");
    }

    private void Problem(string message, string fix)
    {
        _problems++;
        output.WriteLine($"  PROBLEM  {message}");
        output.WriteLine($"           fix: {fix}");
    }
}
