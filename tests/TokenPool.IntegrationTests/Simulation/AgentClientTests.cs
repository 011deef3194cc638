using System.Text.Json.Nodes;
using TokenPool.Billing;
using TokenPool.Docs;
using TokenPool.Gateway.Translation;
using TokenPool.IntegrationTests.Clients;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Simulation;

/// <summary>
/// The real clients carry out the simulator's scripted coding task: they run its command, send the
/// output back, let it edit a file with their own patch or edit tool, run its check and print its
/// answer. Codex and OpenCode go through TokenPool (whose usage records must match, turn by turn, what
/// the simulated upstream reported); Claude Code talks to the Anthropic-flavoured simulator directly,
/// which pins that the Messages upstream speaks what Claude Code accepts.
/// </summary>
[Collection(RealClients.Collection)]
public sealed class AgentClientTests : IAsyncLifetime
{
    private const string Greeting = "hello there\nsecond line\n";
    private const string Changed = "hello, world there\nsecond line\n";

    private TestGateway _gateway = null!;
    private string _home = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel { SimulatorDefaults = "agent", Models = ["gpt-5.5", "gpt-5.4-nano"] });
            o.ChannelList.Add(new TestChannel
            {
                SimulatorDefaults = "agent", Flavor = SimulatorFlavor.Vllm, Wire = WireSet.Of(ApiKind.ChatCompletions), Models = ["qwen3-coder"], UpstreamModels = ["qwen3-coder"], Priority = 1,
            });
        });
        await _gateway.Get<PriceCatalog>().SaveAsync(new ModelPrice
        {
            Model = "qwen3-coder", InputMicrosPerMillion = 300_000, CachedInputMicrosPerMillion = 30_000, OutputMicrosPerMillion = 1_200_000, ReserveOutputTokens = 8_192,
        }, CancellationToken.None);
        _home = Directory.CreateTempSubdirectory("tokenpool-agent-home-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    [Theory]
    [InlineData("codex")]
    [InlineData("codex-0.171")]
    public async Task Codex_CarriesOutTheTask_WithApplyPatch_AndEachTurnIsChargedExactlyAsReported(string binary)
    {
        var key = await _gateway.CreateKeyAsync();
        var work = Project("codex-" + binary);
        var setup = new ClientSetup(_gateway.Address.ToString().TrimEnd('/'), key, "gpt-5.5", "gpt-5.4-nano");
        var codexHome = Directory.CreateDirectory(Path.Combine(_home, ".codex-" + binary)).FullName;
        await File.WriteAllTextAsync(Path.Combine(codexHome, "auth.json"), setup.CodexAuthJson());
        await File.WriteAllTextAsync(Path.Combine(codexHome, "config.toml"), setup.CodexConfigToml());
        var upstream = _gateway.Upstreams[0];
        upstream.ClearRequests();

        var run = await ClientProcess.RunAsync(
            binary == "codex" ? ClientProcess.Binary("codex") : Path.Combine(ClientProcess.ClientsDirectory, "..", "codex-0.171", "bin", "codex.js"),
            ["exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", "--json", "Fix the greeting"],
            _home, work, new Dictionary<string, string> { ["CODEX_HOME"] = codexHome }, TimeSpan.FromMinutes(3));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(Changed, await File.ReadAllTextAsync(Path.Combine(work, "greeting.txt")));
        Assert.Contains("hello, world there", run.Stdout, StringComparison.Ordinal);
        var requests = upstream.Requests;
        Assert.Equal(4, requests.Count);
        Assert.Contains("custom_tool_call_output", requests[2].Body, StringComparison.Ordinal);
        Assert.True(requests[1].Reported!.Cached > 0, "the second turn repeats the first turn's prompt, so the upstream reports it cached");
        var records = (await _gateway.UsageRecordsAsync()).Where(r => r.ChannelId == _gateway.ChannelIds[0]).TakeLast(4).ToList();
        Assert.Equal(
            requests.Select(r => (r.Reported!.Input, r.Reported.Cached, r.Reported.Output, r.Reported.Reasoning, false)),
            records.Select(r => (r.InputTokens, r.CachedInputTokens, r.OutputTokens, r.ReasoningTokens, r.IsEstimated)));
    }

    [Fact]
    public async Task OpenCode_OnAChatOnlyVllmUpstream_ReadsThenEditsWithItsEditTool_AndEachTurnIsChargedExactlyAsReported()
    {
        var key = await _gateway.CreateKeyAsync();
        var upstream = _gateway.Upstreams[1];
        upstream.ClearRequests();
        var config = JsonNode.Parse(new ClientSetup(_gateway.Address.ToString().TrimEnd('/'), key, "qwen3-coder", "qwen3-coder").OpenCodeCompatibleJson())!;

        var openCodeHome = Directory.CreateDirectory(Path.Combine(_home, "opencode-home")).FullName;
        var work = Project(Path.Combine("opencode-home", "project"));

        var run = await OpenCodeTests.OpenCodeRunAsync(openCodeHome, config.ToJsonString(), "Fix the greeting");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(Changed, await File.ReadAllTextAsync(Path.Combine(work, "greeting.txt")));
        Assert.Contains("hello, world there", run.Stdout, StringComparison.Ordinal);
        var turns = upstream.Requests.Where(r => r.Body.Contains("\"tools\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(5, turns.Count);
        var reported = upstream.Requests.Select(r => r.Reported!).ToList();
        var records = (await _gateway.UsageRecordsAsync()).Where(r => r.ChannelId == _gateway.ChannelIds[1]).TakeLast(reported.Count).ToList();
        Assert.Equal(
            reported.Select(r => (r.Input, r.Output, false)).Order(),
            records.Select(r => (r.InputTokens, r.OutputTokens, r.IsEstimated)).Order());
    }

    [Fact]
    public async Task ClaudeCode_CarriesOutTheTask_WithBashReadAndEdit_AgainstTheMessagesUpstream()
    {
        await using var anthropic = await SimulatorHost.StartAsync(new SimulatorOptions
        {
            Flavor = SimulatorFlavor.Anthropic, ApiKey = "sk-ant-sim-claude-code", Defaults = "agent", Models = ["claude-sonnet-4-5", "claude-haiku-4-5"],
        });
        var work = Project("claude");
        var home = Directory.CreateDirectory(Path.Combine(_home, "claude-home")).FullName;

        var run = await ClientProcess.RunAsync(
            ClientProcess.Binary("claude"),
            ["-p", "Fix the greeting", "--output-format", "stream-json", "--verbose", "--allowedTools", "Bash,Read,Edit"],
            home, work,
            new Dictionary<string, string>
            {
                ["ANTHROPIC_BASE_URL"] = anthropic.Address,
                ["ANTHROPIC_API_KEY"] = "sk-ant-sim-claude-code",
                ["ANTHROPIC_MODEL"] = "claude-sonnet-4-5",
                ["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = "claude-haiku-4-5",
                ["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1",
                ["CLAUDE_CODE_MAX_RETRIES"] = "1",
            },
            TimeSpan.FromMinutes(3));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(Changed, await File.ReadAllTextAsync(Path.Combine(work, "greeting.txt")));
        Assert.Contains("hello, world there", run.Stdout, StringComparison.Ordinal);
        var turns = anthropic.Requests.Where(r => r.Path.StartsWith("/v1/messages", StringComparison.Ordinal) && r.Body.Contains("Fix the greeting", StringComparison.Ordinal)).ToList();
        Assert.True(turns.Count >= 5, $"Bash, Read, Edit, Bash and the answer: {turns.Count} requests");
        Assert.All(turns, t => Assert.Equal("sk-ant-sim-claude-code", t.Headers["x-api-key"]));
    }

    /// <summary>A project directory with the file the task changes.</summary>
    private string Project(string name)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_home, name)).FullName;
        File.WriteAllText(Path.Combine(directory, "greeting.txt"), Greeting);
        return directory;
    }
}
