using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;

namespace TokenPool.IntegrationTests.Clients;

/// <summary>
/// The documented common mistakes, each made with the real Codex CLI or OpenCode, and what the person
/// then sees. Each message also appears in the troubleshooting guide.
/// </summary>
[Collection(RealClients.Collection)]
public sealed class CommonMistakesTests : IAsyncDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("tokenpool-mistakes-home-").FullName;
    private TestGateway? _gateway;

    public async ValueTask DisposeAsync()
    {
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        Directory.Delete(_home, recursive: true);
    }

    private async Task<TestGateway> StartAsync(Action<TestGatewayOptions>? configure = null) => _gateway = await TestGateway.StartAsync(configure);

    private static string Address(TestGateway gateway) => gateway.Address.ToString().TrimEnd('/');

    /// <summary>Runs <c>codex exec</c> with these files; Codex's own retries are turned off so a refused request fails at once.</summary>
    private async Task<ClientRun> CodexAsync(string? authJson, string configToml)
    {
        var codexHome = Directory.CreateDirectory(Path.Combine(_home, ".codex")).FullName;
        if (authJson is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(codexHome, "auth.json"), authJson);
        }

        await File.WriteAllTextAsync(Path.Combine(codexHome, "config.toml"), configToml + "request_max_retries = 0\nstream_max_retries = 0\n");
        var work = Directory.CreateDirectory(Path.Combine(_home, "project")).FullName;
        return await ClientProcess.RunAsync(
            ClientProcess.Binary("codex"),
            ["exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", "Say hello"],
            _home,
            work,
            new Dictionary<string, string> { ["CODEX_HOME"] = codexHome });
    }

    private static string Shown(ClientRun run) => run.Stdout + run.Stderr;

    [Fact]
    public async Task Codex_WithTheWebsiteAsBaseUrl_IsToldWhichBaseUrlToUse()
    {
        var gateway = await StartAsync(o =>
        {
            o.Settings["Hosts:ApiHosts:0"] = "127.0.0.1";
            o.Settings["Hosts:WebHost"] = "localhost";
            o.Settings["Hosts:PublicScheme"] = "http";
        });
        var key = await gateway.CreateKeyAsync();
        var website = $"http://localhost:{gateway.Address.Port}";
        var setup = new ClientSetup(website, key, "gpt-5.5", "gpt-5.4-nano");

        var run = await CodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("is the TokenPool website, not the API endpoint", Shown(run), StringComparison.Ordinal);
        Assert.Contains("Set base_url in your tool to http://127.0.0.1/v1", Shown(run), StringComparison.Ordinal);
        Assert.Empty(gateway.Upstreams[0].Requests);
    }

    [Fact]
    public async Task Codex_WithTheConsoleAsBaseUrl_IsToldWhichBaseUrlToUse()
    {
        var gateway = await StartAsync();
        var key = await gateway.CreateKeyAsync();
        var setup = new ClientSetup(Address(gateway), key, "gpt-5.5", "gpt-5.4-nano");
        var config = setup.CodexConfigToml().Replace(setup.ApiRoot, Address(gateway) + "/console", StringComparison.Ordinal);

        var run = await CodexAsync(setup.CodexAuthJson(), config);

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("/console is the TokenPool web console, not the API endpoint", Shown(run), StringComparison.Ordinal);
        Assert.Contains($"Set base_url in your tool to {Address(gateway)}/v1", Shown(run), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Codex_WithTheKeyInConfigTomlInsteadOfAuthJson_IsToldWhereTheKeyBelongs()
    {
        var gateway = await StartAsync();
        var key = await gateway.CreateKeyAsync();
        var setup = new ClientSetup(Address(gateway), key, "gpt-5.5", "gpt-5.4-nano");
        var config = $"OPENAI_API_KEY = \"{key}\"\n" + setup.CodexConfigToml();

        var run = await CodexAsync(authJson: null, config);

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("No API key was sent", Shown(run), StringComparison.Ordinal);
        Assert.Contains("Codex reads the key from ~/.codex/auth.json", Shown(run), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Codex_WithAMisspelledModel_IsToldTheClosestName()
    {
        var gateway = await StartAsync();
        var key = await gateway.CreateKeyAsync();
        var setup = new ClientSetup(Address(gateway), key, "gpt-55", "gpt-5.4-nano");

        var run = await CodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("The model \"gpt-55\" does not exist or is not available on TokenPool. Did you mean \"gpt-5.5\"?", Shown(run), StringComparison.Ordinal);
        Assert.Contains("/v1/models", Shown(run), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Codex_WithNoQuota_ShowsQuotaExceededAndStopsAtOnce()
    {
        var gateway = await StartAsync();
        var key = await gateway.CreateKeyAsync(creditUsd: 0m);
        var setup = new ClientSetup(Address(gateway), key, "gpt-5.5", "gpt-5.4-nano");

        var run = await CodexAsync(setup.CodexAuthJson(), setup.CodexConfigToml());

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("Quota exceeded", Shown(run), StringComparison.Ordinal);
        Assert.Empty(gateway.Upstreams[0].Requests);
    }

    [Fact]
    public async Task OpenCode_WithNoQuota_IsToldThereIsNoQuotaAndWhereToAddIt()
    {
        var gateway = await StartAsync();
        var key = await gateway.CreateKeyAsync(creditUsd: 0m);
        var setup = new ClientSetup(Address(gateway), key, "gpt-5.5", "gpt-5.4-nano");

        var run = await OpenCodeTests.OpenCodeRunAsync(_home, setup.OpenCodeJson(), "Say hello");

        Assert.False(run.TimedOut, run.ToString());
        Assert.Contains("no available quota", Shown(run), StringComparison.Ordinal);
        Assert.Contains("/console/usage", Shown(run), StringComparison.Ordinal);
        Assert.Empty(gateway.Upstreams[0].Requests);
    }

    [Fact]
    public async Task OpenCode_WithAMistypedKey_ShowsTheLooksIncompleteMessage()
    {
        var gateway = await StartAsync();
        var key = await gateway.CreateKeyAsync();
        var mistyped = key[..20] + (key[20] == 'a' ? 'b' : 'a') + key[21..];
        var setup = new ClientSetup(Address(gateway), mistyped, "gpt-5.5", "gpt-5.4-nano");

        var run = await OpenCodeTests.OpenCodeRunAsync(_home, setup.OpenCodeJson(), "Say hello");

        Assert.False(run.TimedOut, run.ToString());
        Assert.Contains("looks incomplete or mistyped", Shown(run), StringComparison.Ordinal);
        Assert.DoesNotContain(mistyped, Shown(run), StringComparison.Ordinal);
        Assert.Empty(gateway.Upstreams[0].Requests);
    }

    [Fact]
    public async Task OpenCode_WithADeletedKey_IsToldTheKeyWasDeleted()
    {
        var gateway = await StartAsync();
        var account = await gateway.CreateUserAsync();
        var created = await gateway.Get<ApiKeyService>().CreateAsync(account.Id, new NewKeySettings("laptop"), null, CancellationToken.None);
        await gateway.Get<ApiKeyService>().DeleteAsync(account.Id, created.Row.Id, null, CancellationToken.None);
        var setup = new ClientSetup(Address(gateway), created.Key, "gpt-5.5", "gpt-5.4-nano");

        var run = await OpenCodeTests.OpenCodeRunAsync(_home, setup.OpenCodeJson(), "Say hello");

        Assert.False(run.TimedOut, run.ToString());
        Assert.Contains("was deleted. Create a new key at", Shown(run), StringComparison.Ordinal);
        Assert.DoesNotContain(account.Email, Shown(run), StringComparison.Ordinal);
        Assert.Empty(gateway.Upstreams[0].Requests);
    }

    [Fact]
    public async Task OpenCode_WithTheConsoleAsBaseUrl_IsToldWhichBaseUrlToUse()
    {
        var gateway = await StartAsync();
        var key = await gateway.CreateKeyAsync();
        var setup = new ClientSetup(Address(gateway) + "/console", key, "gpt-5.5", "gpt-5.4-nano");

        var run = await OpenCodeTests.OpenCodeRunAsync(_home, setup.OpenCodeJson(), "Say hello");

        Assert.False(run.TimedOut, run.ToString());
        Assert.Contains("is the TokenPool web console, not the API endpoint", Shown(run), StringComparison.Ordinal);
        Assert.Contains($"Set base_url in your tool to {Address(gateway)}/v1", Shown(run), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenCode_WithAnUnknownModel_IsToldHowToListModels()
    {
        var gateway = await StartAsync();
        var key = await gateway.CreateKeyAsync();
        var setup = new ClientSetup(Address(gateway), key, "gpt-5.5-turbo", "gpt-5.4-nano");

        var run = await OpenCodeTests.OpenCodeRunAsync(_home, setup.OpenCodeJson(), "Say hello");

        Assert.False(run.TimedOut, run.ToString());
        Assert.Contains("The model \"gpt-5.5-turbo\" does not exist or is not available on TokenPool", Shown(run), StringComparison.Ordinal);
        Assert.Contains("/v1/models", Shown(run), StringComparison.Ordinal);
    }
}

/// <summary>Keys that can no longer be used say why (deleted, disabled, expired) and never whose they are.</summary>
public sealed class KeyRefusalMessageTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Theory]
    [InlineData("disabled", "is disabled. Use another key or create a new one at")]
    [InlineData("expired", "expired on")]
    [InlineData("deleted", "was deleted. Create a new key at")]
    public async Task RefusedKey_SaysWhichWithoutNamingTheOwner(string state, string expected)
    {
        var account = await _gateway.CreateUserAsync();
        var created = await _gateway.Get<ApiKeyService>().CreateAsync(account.Id, new NewKeySettings("laptop"), null, CancellationToken.None);
        await using (var db = await _gateway.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync())
        {
            var row = await db.ApiKeys.SingleAsync(k => k.Id == created.Row.Id);
            switch (state)
            {
                case "disabled":
                    row.Status = ApiKeyStatus.Disabled;
                    break;
                case "expired":
                    row.ExpiresAt = DateTime.UtcNow.AddMinutes(-5);
                    break;
                default:
                    row.DeletedAt = DateTime.UtcNow;
                    break;
            }

            await db.SaveChangesAsync();
        }

        _gateway.Get<ApiKeyCache>().InvalidateKey(created.Row.Id);
        using var client = _gateway.ClientWithKey(created.Key);

        using var response = await client.PostAsync("/v1/responses", new StringContent("""{"model":"gpt-5.5","input":"hi"}""", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains(expected, body, StringComparison.Ordinal);
        Assert.Contains(created.Key[^4..], body, StringComparison.Ordinal);
        Assert.DoesNotContain(created.Key, body, StringComparison.Ordinal);
        Assert.DoesNotContain(account.Email, body, StringComparison.Ordinal);
        Assert.DoesNotContain("laptop", body, StringComparison.Ordinal);
    }
}
