using System.Text.Json;
using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Clients;

/// <summary>The real Codex CLI (pinned in tests/clients) against a live TokenPool, configured with the console's own snippets.</summary>
[Collection(RealClients.Collection)]
public sealed class CodexCliTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private string _home = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _home = Directory.CreateTempSubdirectory("tokenpool-codex-home-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    private async Task<ClientRun> CodexExecAsync(string key, string prompt, string model = "gpt-5.5")
    {
        var setup = new ClientSetup(_gateway.Address.ToString().TrimEnd('/'), key, model, "gpt-5.4-nano");
        var codexHome = Path.Combine(_home, ".codex");
        Directory.CreateDirectory(codexHome);
        await File.WriteAllTextAsync(Path.Combine(codexHome, "auth.json"), setup.CodexAuthJson());
        await File.WriteAllTextAsync(Path.Combine(codexHome, "config.toml"), setup.CodexConfigToml());
        var work = Directory.CreateDirectory(Path.Combine(_home, "project")).FullName;
        return await ClientProcess.RunAsync(
            ClientProcess.Binary("codex"),
            ["exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", "--json", prompt],
            _home,
            work,
            new Dictionary<string, string> { ["CODEX_HOME"] = codexHome });
    }

    private static List<JsonElement> JsonLines(string stdout) =>
        stdout.Split('\n')
            .Where(line => line.TrimStart().StartsWith('{'))
            .Select(line => JsonDocument.Parse(line).RootElement.Clone())
            .ToList();

    [Fact]
    public async Task CodexExec_GetsAPlainAnswerThroughTokenPool()
    {
        var key = await _gateway.CreateKeyAsync();

        var run = await CodexExecAsync(key, "Say hello to TokenPool");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("simulated upstream", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("disable_response_storage", run.Stderr, StringComparison.Ordinal);
        var request = Assert.Single(_gateway.Upstreams[0].Requests);
        Assert.Equal("/v1/responses", request.Path);
        Assert.Contains("\"stream\":true", request.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CodexExec_RunsAToolCallAndSendsItsOutputBack()
    {
        var key = await _gateway.CreateKeyAsync();

        var run = await CodexExecAsync(key, "Please run `echo tokenpool-tool-ok` and tell me what it printed.");

        Assert.True(run.ExitCode == 0, run.ToString());
        var events = JsonLines(run.Stdout);
        var commandItems = events
            .Where(e => e.TryGetProperty("item", out var item) && item.TryGetProperty("type", out var type) && type.GetString() == "command_execution")
            .Select(e => e.GetProperty("item"))
            .ToList();
        Assert.Contains(commandItems, item => item.GetProperty("command").GetString()!.Contains("echo tokenpool-tool-ok", StringComparison.Ordinal));

        // Codex sent the command's output back in a second request, and the answer came from it.
        var requests = _gateway.Upstreams[0].Requests.ToList();
        Assert.Equal(2, requests.Count);
        Assert.Contains("function_call_output", requests[1].Body, StringComparison.Ordinal);
        Assert.Contains("tokenpool-tool-ok", requests[1].Body, StringComparison.Ordinal);
        Assert.Contains("tokenpool-tool-ok", run.Stdout, StringComparison.Ordinal);

        // Both requests were charged from the usage the upstream reported.
        await _gateway.FlushUsageAsync();
        Assert.DoesNotContain(key, _gateway.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CodexExec_WithAnIncompleteKey_ShowsTheLooksIncompleteMessage()
    {
        var key = await _gateway.CreateKeyAsync();

        var run = await CodexExecAsync(key[..40], "Say hello");

        Assert.NotEqual(0, run.ExitCode);
        Assert.Contains("looks incomplete", run.Stdout + run.Stderr, StringComparison.Ordinal);
        Assert.Empty(_gateway.Upstreams[0].Requests);
    }
}

/// <summary>Real clients are heavy (a Rust binary, a Bun runtime): run their tests one at a time.</summary>
[CollectionDefinition(Collection, DisableParallelization = true)]
public sealed class RealClients
{
    public const string Collection = "Real clients";
}
