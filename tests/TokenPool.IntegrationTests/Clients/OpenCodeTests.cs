using System.Text.Json.Nodes;
using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Clients;

/// <summary>
/// The real OpenCode (pinned in tests/clients) against a live TokenPool, configured with the console's
/// own snippets from <see cref="ClientSetup"/>: a plain answer and a bash tool round trip, streamed.
/// </summary>
[Collection(RealClients.Collection)]
public sealed class OpenCodeTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private string _home = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _home = Directory.CreateTempSubdirectory("tokenpool-opencode-home-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    /// <summary>Runs <c>opencode run</c> with the given opencode.json (plus the settings that keep a test offline).</summary>
    internal static async Task<ClientRun> OpenCodeRunAsync(string home, string configJson, string prompt)
    {
        var config = JsonNode.Parse(configJson)!.AsObject();
        config["autoupdate"] = false;
        config["share"] = "disabled";
        config["permission"] = new JsonObject { ["bash"] = "allow", ["edit"] = "allow" };
        var configDirectory = Directory.CreateDirectory(Path.Combine(home, ".config", "opencode")).FullName;
        await File.WriteAllTextAsync(Path.Combine(configDirectory, "opencode.json"), config.ToJsonString());
        var work = Directory.CreateDirectory(Path.Combine(home, "project")).FullName;
        return await ClientProcess.RunAsync(
            ClientProcess.Binary("opencode"),
            ["run", "--print-logs", "--log-level", "WARN", prompt],
            home,
            work,
            new Dictionary<string, string>
            {
                ["OPENCODE_DISABLE_MODELS_FETCH"] = "1",
                ["OPENCODE_DISABLE_AUTOUPDATE"] = "1",
                ["OPENCODE_DISABLE_SHARE"] = "1",
            },
            TimeSpan.FromMinutes(2));
    }

    private ClientSetup Setup(string key) => new(_gateway.Address.ToString().TrimEnd('/'), key, "gpt-5.5", "gpt-5.4-nano");

    [Fact]
    public async Task OpenCodeRun_GetsAPlainAnswerThroughTokenPool()
    {
        var key = await _gateway.CreateKeyAsync();

        var run = await OpenCodeRunAsync(_home, Setup(key).OpenCodeJson(), "Say hello to TokenPool");

        Assert.True(run.ExitCode == 0 && !run.TimedOut, run.ToString());
        Assert.Contains("simulated upstream", run.Stdout, StringComparison.Ordinal);
        var requests = _gateway.Upstreams[0].Requests.ToList();
        Assert.All(requests, r => Assert.Equal("/v1/responses", r.Path));
        var turn = Assert.Single(requests, r => r.Body.Contains("\"model\":\"gpt-5.5\"", StringComparison.Ordinal));
        Assert.Contains("\"stream\":true", turn.Body, StringComparison.Ordinal);
        Assert.DoesNotContain(key, _gateway.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenCodeRun_RunsTheBashToolAndSendsItsOutputBack()
    {
        var key = await _gateway.CreateKeyAsync();

        var run = await OpenCodeRunAsync(_home, Setup(key).OpenCodeJson(), "Please run `echo tokenpool-opencode-ok` and tell me what it printed.");

        Assert.True(run.ExitCode == 0 && !run.TimedOut, run.ToString());
        var turns = _gateway.Upstreams[0].Requests.Where(r => r.Body.Contains("\"model\":\"gpt-5.5\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, turns.Count);
        Assert.Contains("\"name\":\"bash\"", turns[0].Body, StringComparison.Ordinal);
        Assert.Contains("function_call_output", turns[1].Body, StringComparison.Ordinal);
        Assert.Contains("tokenpool-opencode-ok", turns[1].Body, StringComparison.Ordinal);
        Assert.Contains("tokenpool-opencode-ok", run.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenCodeRun_WithTheChatCompletionsVariant_RunsTheBashToolToo()
    {
        var key = await _gateway.CreateKeyAsync();

        var run = await OpenCodeRunAsync(_home, Setup(key).OpenCodeCompatibleJson(), "Please run `echo tokenpool-chat-ok` and tell me what it printed.");

        Assert.True(run.ExitCode == 0 && !run.TimedOut, run.ToString());
        var turns = _gateway.Upstreams[0].Requests.Where(r => r.Body.Contains("\"model\":\"gpt-5.5\"", StringComparison.Ordinal)).ToList();
        Assert.All(turns, r => Assert.Equal("/v1/chat/completions", r.Path));
        Assert.Equal(2, turns.Count);
        Assert.Contains("\"role\":\"tool\"", turns[1].Body, StringComparison.Ordinal);
        Assert.Contains("tokenpool-chat-ok", turns[1].Body, StringComparison.Ordinal);
        Assert.Contains("\"stream\":true", turns[0].Body, StringComparison.Ordinal);
    }
}
