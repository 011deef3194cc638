using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Clients;

/// <summary>
/// Configurations people already have: the one the published docs showed (provider "OpenAI",
/// <c>disable_response_storage</c>, base_url without <c>/v1</c>) and the one CC Switch writes. Both must keep
/// working with the pinned Codex CLI; the guides say Codex only warns about the ignored setting.
/// </summary>
[Collection(RealClients.Collection)]
public sealed class PublishedConfigTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private string _home = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _home = Directory.CreateTempSubdirectory("tokenpool-published-home-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private async Task<ClientRun> CodexAsync(string key, string configToml)
    {
        var codexHome = Directory.CreateDirectory(Path.Combine(_home, ".codex")).FullName;
        var setup = new ClientSetup(_gateway.Address.ToString().TrimEnd('/'), key, "gpt-5.5", "gpt-5.4-nano");
        await File.WriteAllTextAsync(Path.Combine(codexHome, "auth.json"), setup.CodexAuthJson());
        await File.WriteAllTextAsync(Path.Combine(codexHome, "config.toml"), configToml);
        var work = Directory.CreateDirectory(Path.Combine(_home, "project")).FullName;
        return await ClientProcess.RunAsync(
            ClientProcess.Binary("codex"),
            ["exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", "Say hello to TokenPool"],
            _home,
            work,
            new Dictionary<string, string> { ["CODEX_HOME"] = codexHome });
    }

    [Fact]
    public async Task ThePublishedDocsCodexConfig_WorksWithOnlyAWarning()
    {
        var key = await _gateway.CreateKeyAsync();
        var config = $"""
            model_provider = "OpenAI"
            model = "gpt-5.5"
            review_model = "gpt-5.5"
            disable_response_storage = true

            [model_providers.OpenAI]
            name = "OpenAI"
            base_url = "{_gateway.Address.ToString().TrimEnd('/')}"
            wire_api = "responses"
            requires_openai_auth = true

            """;

        var run = await CodexAsync(key, config);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("simulated upstream", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("disable_response_storage", run.Stdout + run.Stderr, StringComparison.Ordinal);
        Assert.Equal("/v1/responses", Assert.Single(_gateway.Upstreams[0].Requests).Path);
    }

    [Fact]
    public async Task TheConfigCcSwitchWrites_Works()
    {
        var key = await _gateway.CreateKeyAsync();
        var config = $"""
            model_provider = "custom"
            model = "gpt-5-codex"
            model_reasoning_effort = "high"
            disable_response_storage = true

            [model_providers.custom]
            name = "TokenPool"
            base_url = "{_gateway.Address.ToString().TrimEnd('/')}/v1"
            wire_api = "responses"
            requires_openai_auth = true

            """;

        var run = await CodexAsync(key, config);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("simulated upstream", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"model\":\"gpt-5-codex\"", Assert.Single(_gateway.Upstreams[0].Requests).Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WireApiChat_IsRejectedByCodexAsTheGuidesSay()
    {
        var key = await _gateway.CreateKeyAsync();
        var setup = new ClientSetup(_gateway.Address.ToString().TrimEnd('/'), key, "gpt-5.5", "gpt-5.4-nano");

        var run = await CodexAsync(key, setup.CodexConfigToml().Replace("wire_api = \"responses\"", "wire_api = \"chat\"", StringComparison.Ordinal));

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("`wire_api = \"chat\"` is no longer supported", run.Stdout + run.Stderr, StringComparison.Ordinal);
        Assert.Empty(_gateway.Upstreams[0].Requests);
    }
}
