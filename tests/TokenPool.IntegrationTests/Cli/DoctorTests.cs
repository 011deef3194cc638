using System.Diagnostics;
using TokenPool.Cli;
using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Cli;

/// <summary><c>tokenpool doctor</c> on a temporary HOME, against a live TokenPool.</summary>
public sealed class DoctorTests : IAsyncLifetime
{
    private readonly Dictionary<string, string> _environment = [];
    private TestGateway _gateway = null!;
    private string _home = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o =>
        {
            o.Settings["Hosts:ApiHosts:0"] = "127.0.0.1";
            o.Settings["Hosts:WebHost"] = "localhost";
            o.Settings["Hosts:PublicScheme"] = "http";
        });
        _home = Directory.CreateTempSubdirectory("tokenpool-doctor-home-").FullName;
        _environment["HOME"] = _home;
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private string ApiBase => _gateway.Address.ToString().TrimEnd('/');

    private ClientSetup Setup(string key, string model = "gpt-5.5", string? baseUrl = null) => new(baseUrl ?? ApiBase, key, model, "gpt-5.4-nano");

    private async Task WriteCodexAsync(string? authJson, string configToml, string? codexHome = null)
    {
        var dir = Directory.CreateDirectory(codexHome ?? Path.Combine(_home, ".codex")).FullName;
        if (authJson is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(dir, "auth.json"), authJson);
        }

        await File.WriteAllTextAsync(Path.Combine(dir, "config.toml"), configToml);
    }

    private async Task WriteOpenCodeAsync(string json, string? configHome = null)
    {
        var dir = Directory.CreateDirectory(Path.Combine(configHome ?? Path.Combine(_home, ".config"), "opencode")).FullName;
        await File.WriteAllTextAsync(Path.Combine(dir, "opencode.json"), json);
    }

    private async Task<(int ExitCode, string Output)> DoctorAsync(bool sendTestRequest = true)
    {
        using var output = new StringWriter();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
        var doctor = new Doctor(new DoctorSettings(name => _environment.GetValueOrDefault(name), sendTestRequest), output, http);
        var exit = await doctor.RunAsync(CancellationToken.None);
        return (exit, output.ToString());
    }

    [Fact]
    public async Task WithTheConsoleSnippets_FindsNothingToFixAndNeverPrintsTheKey()
    {
        var key = await _gateway.CreateKeyAsync();
        var setup = Setup(key);
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());
        await WriteOpenCodeAsync(setup.OpenCodeJson());

        var (exit, output) = await DoctorAsync();

        Assert.True(exit == 0, output);
        Assert.DoesNotContain("PROBLEM", output, StringComparison.Ordinal);
        Assert.Contains("holds a complete TokenPool key (" + key[..10] + "…" + key[^4..] + ")", output, StringComparison.Ordinal);
        Assert.Contains("The model \"gpt-5.5\" is available.", output, StringComparison.Ordinal);
        Assert.Contains("The model \"gpt-5.4-nano\" is available.", output, StringComparison.Ordinal);
        Assert.Contains("succeeded: the key has quota", output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, output, StringComparison.Ordinal);
        Assert.DoesNotContain(key[10..^4], output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FindsTheKeyPastedIntoConfigToml()
    {
        var key = await _gateway.CreateKeyAsync();
        await WriteCodexAsync(null, $"OPENAI_API_KEY = \"{key}\"\n" + Setup(key).CodexConfigToml());

        var (exit, output) = await DoctorAsync();

        Assert.Equal(1, exit);
        Assert.Contains("config.toml holds an API key (line 1, \"OPENAI_API_KEY\")", output, StringComparison.Ordinal);
        Assert.Contains("Move the key into auth.json", output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FindsATruncatedKeyWithoutPrintingIt()
    {
        var key = await _gateway.CreateKeyAsync();
        var truncated = key[..48];
        var setup = Setup(truncated);
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        var (exit, output) = await DoctorAsync();

        Assert.Equal(1, exit);
        Assert.Contains("looks incomplete: it has 48 of its 55 characters", output, StringComparison.Ordinal);
        Assert.DoesNotContain(truncated, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FindsTheWebsiteAsBaseUrlWithoutCallingIt()
    {
        var key = await _gateway.CreateKeyAsync();
        var setup = Setup(key, baseUrl: "https://tokenpool.dev");
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        var (exit, output) = await DoctorAsync();

        Assert.Equal(1, exit);
        Assert.Contains("base_url is https://tokenpool.dev/v1, the TokenPool website or console, not the API endpoint", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReportsTheServersWrongBaseUrlAnswerForThisDeploymentsWebHost()
    {
        var key = await _gateway.CreateKeyAsync();
        var setup = Setup(key, baseUrl: $"http://localhost:{_gateway.Address.Port}");
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        var (exit, output) = await DoctorAsync();

        Assert.Equal(1, exit);
        Assert.Contains("is the TokenPool website, not the API endpoint", output, StringComparison.Ordinal);
        Assert.Contains("Set base_url in your tool to http://127.0.0.1/v1", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FindsWireApiChatAndDisableResponseStorage()
    {
        var key = await _gateway.CreateKeyAsync();
        var setup = Setup(key);
        var config = "disable_response_storage = true\n" + setup.CodexConfigToml().Replace("wire_api = \"responses\"", "wire_api = \"chat\"", StringComparison.Ordinal);
        await WriteCodexAsync(setup.CodexAuthJson(), config);

        var (exit, output) = await DoctorAsync(sendTestRequest: false);

        Assert.Equal(1, exit);
        Assert.Contains("wire_api = \"chat\", which Codex 0.169 rejects", output, StringComparison.Ordinal);
        Assert.Contains("disable_response_storage, which Codex 0.169 ignores", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FindsAnUnknownModelAndSuggestsTheClosestName()
    {
        var key = await _gateway.CreateKeyAsync();
        var setup = Setup(key, model: "gpt-55");
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        var (exit, output) = await DoctorAsync();

        Assert.Equal(1, exit);
        Assert.Contains("The model \"gpt-55\" is not available with this key. Did you mean \"gpt-5.5\"?", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FindsAnAccountWithNoQuota()
    {
        var key = await _gateway.CreateKeyAsync(creditUsd: 0m);
        var setup = Setup(key);
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        var (exit, output) = await DoctorAsync();

        Assert.Equal(1, exit);
        Assert.Contains("answered HTTP 429: Your TokenPool account has no available quota", output, StringComparison.Ordinal);
        Assert.Contains("Add quota", output, StringComparison.Ordinal);
        Assert.Empty(_gateway.Upstreams[0].Requests);
    }

    [Fact]
    public async Task FindsAnUnknownKey()
    {
        var other = await TestGateway.StartAsync();
        string key;
        try
        {
            key = await other.CreateKeyAsync();
        }
        finally
        {
            await other.DisposeAsync();
        }

        var setup = Setup(key);
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        var (exit, output) = await DoctorAsync();

        Assert.Equal(1, exit);
        Assert.Contains("answered HTTP 401: Incorrect API key provided", output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WarnsWhenAuthJsonIsInsideAGitRepository()
    {
        var key = await _gateway.CreateKeyAsync();
        var setup = Setup(key);
        Directory.CreateDirectory(Path.Combine(_home, ".git"));
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        var (exit, output) = await DoctorAsync(sendTestRequest: false);

        Assert.Equal(1, exit);
        Assert.Contains($"auth.json is inside the Git repository at {_home}", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HonoursCodexHomeAndXdgConfigHome()
    {
        var key = await _gateway.CreateKeyAsync();
        var codexHome = Path.Combine(_home, "elsewhere", "codex");
        var xdg = Path.Combine(_home, "xdg");
        _environment["CODEX_HOME"] = codexHome;
        _environment["XDG_CONFIG_HOME"] = xdg;
        var mistyped = key[..30] + (key[30] == 'a' ? 'b' : 'a') + key[31..];
        await WriteCodexAsync(Setup(key).CodexAuthJson(), Setup(key).CodexConfigToml(), codexHome);
        await WriteOpenCodeAsync(Setup(mistyped).OpenCodeJson(), xdg);

        var (exit, output) = await DoctorAsync(sendTestRequest: false);

        Assert.Equal(1, exit);
        Assert.Contains($"Codex ({codexHome})", output, StringComparison.Ordinal);
        Assert.Contains($"OpenCode ({Path.Combine(xdg, "opencode", "opencode.json")})", output, StringComparison.Ordinal);
        Assert.Contains("provider \"tokenpool\" apiKey", output, StringComparison.Ordinal);
        Assert.Contains("looks incomplete or mistyped: its checksum does not match", output, StringComparison.Ordinal);
        Assert.DoesNotContain(mistyped, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunsAsTheTokenpoolCommand()
    {
        var key = await _gateway.CreateKeyAsync();
        var setup = Setup(key);
        await WriteCodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(Doctor).Assembly.Location);
        start.ArgumentList.Add("doctor");
        start.ArgumentList.Add("--skip-request");
        start.Environment["HOME"] = _home;
        start.Environment.Remove("CODEX_HOME");
        start.Environment.Remove("XDG_CONFIG_HOME");

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);

        var output = await stdout;
        Assert.True(process.ExitCode == 0, output + await stderr);
        Assert.Contains("The API at " + setup.ApiRoot + " accepts the key", output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, output, StringComparison.Ordinal);
    }
}
