using TokenPool.Docs;
using TokenPool.Gateway.Translation;
using TokenPool.IntegrationTests.Clients;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Gateway;

/// <summary>
/// The real Codex carries out the simulator's scripted coding task through TokenPool on Chat-only upstreams, every
/// turn translated: it runs the command, edits the file with its free-form <c>apply_patch</c> (a function with one
/// string on the Chat side, a <c>custom_tool_call</c> again for Codex), runs the check and prints the answer; each
/// turn is charged exactly as the upstream reported. On the DeepSeek-flavoured upstream, which refuses a tool-call
/// turn without its <c>reasoning_content</c>, the reasoning comes back every turn from TokenPool's seal.
/// </summary>
[Collection(RealClients.Collection)]
public sealed class BridgedAgentTests : IAsyncLifetime
{
    private const string Greeting = "hello there\nsecond line\n";
    private const string Changed = "hello, world there\nsecond line\n";

    private string _home = null!;

    public Task InitializeAsync()
    {
        _home = Directory.CreateTempSubdirectory("tokenpool-bridged-agent-").FullName;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_home, recursive: true);
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("codex-0.171", "Vllm")]
    [InlineData("codex", "DeepSeek")]
    public async Task Codex_OnAChatOnlyUpstream_CarriesOutTheTask_AndEachTurnIsChargedExactlyAsReported(string binary, string flavor)
    {
        // A model slug Codex knows, so it offers its free-form apply_patch tool (protocols §1.4).
        const string model = "gpt-5.5";
        await using var gateway = await TestGateway.StartAsync(o => o.ChannelList.Add(new TestChannel
        {
            SimulatorDefaults = "agent", Flavor = Enum.Parse<SimulatorFlavor>(flavor), Wire = WireSet.Of(ApiKind.ChatCompletions), Models = [model],
        }));
        var key = await gateway.CreateKeyAsync();
        var work = Directory.CreateDirectory(Path.Combine(_home, binary + "-" + flavor)).FullName;
        await File.WriteAllTextAsync(Path.Combine(work, "greeting.txt"), Greeting);
        var setup = new ClientSetup(gateway.Address.ToString().TrimEnd('/'), key, model, model);
        var codexHome = Directory.CreateDirectory(Path.Combine(_home, ".codex-" + binary + "-" + flavor)).FullName;
        await File.WriteAllTextAsync(Path.Combine(codexHome, "auth.json"), setup.CodexAuthJson());
        await File.WriteAllTextAsync(Path.Combine(codexHome, "config.toml"), setup.CodexConfigToml());
        var upstream = gateway.Upstreams[0];
        upstream.ClearRequests();

        var run = await ClientProcess.RunAsync(
            binary == "codex" ? ClientProcess.Binary("codex") : Path.Combine(ClientProcess.ClientsDirectory, "..", "codex-0.171", "bin", "codex.js"),
            ["exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", "--json", "Fix the greeting"],
            _home, work, new Dictionary<string, string> { ["CODEX_HOME"] = codexHome }, TimeSpan.FromMinutes(3));

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.True(Changed == await File.ReadAllTextAsync(Path.Combine(work, "greeting.txt")), run.ToString());
        Assert.Contains("hello, world there", run.Stdout, StringComparison.Ordinal);
        var requests = upstream.Requests;
        Assert.True(requests.Count >= 3, $"{requests.Count} upstream requests");
        Assert.All(requests, r => Assert.Contains("\"messages\"", r.Body, StringComparison.Ordinal));
        Assert.Contains(requests, r => r.Body.Contains("\"apply_patch\"", StringComparison.Ordinal) && r.Body.Contains("\"role\":\"tool\"", StringComparison.Ordinal));
        if (flavor == "DeepSeek")
        {
            // Every later turn sends back, on the assistant's tool-call message, the reasoning DeepSeek gave for it.
            Assert.All(requests.Skip(1), r => Assert.Contains("\"reasoning_content\":\"The user asked", r.Body, StringComparison.Ordinal));
        }

        var records = (await gateway.UsageRecordsAsync()).TakeLast(requests.Count).ToList();
        Assert.Equal(
            // vLLM's usage has no reasoning count on the wire; DeepSeek's has.
            requests.Select(r => (r.Reported!.Input, r.Reported.Cached, r.Reported.Output, flavor == "Vllm" ? 0 : r.Reported.Reasoning, false)),
            records.Select(r => (r.InputTokens, r.CachedInputTokens, r.OutputTokens, r.ReasoningTokens, r.IsEstimated)));
    }
}
