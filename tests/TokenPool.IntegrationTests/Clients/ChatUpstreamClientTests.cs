using System.Text.Json.Nodes;
using TokenPool.Docs;
using TokenPool.Gateway.Translation;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Clients;

/// <summary>
/// Codex and OpenCode's <c>openai</c> provider speak only the Responses API; most upstreams an operator pools speak only
/// Chat Completions. Here the real clients carry out the simulator's scripted coding task through TokenPool on Chat-only
/// upstreams (vLLM's and DeepSeek's stream shapes): the command's output goes back, the file is changed with the client's
/// own patch tool, the answer arrives, and every turn's usage record is exactly what the upstream reported. DeepSeek
/// refuses a tool-call turn whose reasoning is not sent back, so the Codex run on it also proves that reasoning travels
/// sealed inside Codex's reasoning items and is restored upstream.
/// </summary>
[Collection(RealClients.Collection)]
public sealed class ChatUpstreamClientTests : IAsyncLifetime
{
    private const string Greeting = "hello there\nsecond line\n";
    private const string Changed = "hello, world there\nsecond line\n";

    private TestGateway _gateway = null!;
    private string _home = null!;

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync(o =>
        {
            o.ChannelList.Add(new TestChannel
            {
                SimulatorDefaults = "agent", Flavor = SimulatorFlavor.Vllm, Wire = WireSet.Of(ApiKind.ChatCompletions), Models = ["gpt-5.5", "gpt-5.4-nano"],
            });
            o.ChannelList.Add(new TestChannel
            {
                SimulatorDefaults = "agent", Flavor = SimulatorFlavor.DeepSeek, Wire = WireSet.Of(ApiKind.ChatCompletions), Models = ["gpt-5.4", "gpt-5.4-nano"],
            });
        });
        _home = Directory.CreateTempSubdirectory("tokenpool-chat-upstream-home-").FullName;
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        Directory.Delete(_home, recursive: true);
    }

    [Fact]
    public async Task OpenCode_WithItsOpenAiProvider_OnAChatOnlyUpstream_CarriesOutTheTask_AndEachTurnIsChargedExactly()
    {
        var key = await _gateway.CreateKeyAsync();
        var upstream = _gateway.Upstreams[1];
        upstream.ClearRequests();
        var config = JsonNode.Parse(new ClientSetup(_gateway.Address.ToString().TrimEnd('/'), key, "gpt-5.4", "gpt-5.4-nano").OpenCodeJson())!;
        var openCodeHome = Directory.CreateDirectory(Path.Combine(_home, "opencode-home")).FullName;
        var work = Project(Path.Combine("opencode-home", "project"));

        var run = await OpenCodeTests.OpenCodeRunAsync(openCodeHome, config.ToJsonString(), "Fix the greeting");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.True(Changed == await File.ReadAllTextAsync(Path.Combine(work, "greeting.txt")), run.ToString());
        Assert.Contains("hello, world there", run.Stdout, StringComparison.Ordinal);
        var requests = upstream.Requests.ToList();
        Assert.All(requests, r => Assert.Equal("/v1/chat/completions", r.Path));
        Assert.True(requests.Count(r => r.Body.Contains("\"tools\"", StringComparison.Ordinal)) >= 4, $"{requests.Count} upstream requests");
        var records = (await _gateway.UsageRecordsAsync()).Where(r => r.ChannelId == _gateway.ChannelIds[1]).TakeLast(requests.Count).ToList();
        Assert.Equal(
            requests.Select(r => (r.Reported!.Input, r.Reported.Cached, r.Reported.Output, r.Reported.Reasoning, false)).Order(),
            records.Select(r => (r.InputTokens, r.CachedInputTokens, r.OutputTokens, r.ReasoningTokens, r.IsEstimated)).Order());
    }

    /// <summary>A project directory with the file the task changes.</summary>
    private string Project(string name)
    {
        var directory = Directory.CreateDirectory(Path.Combine(_home, name)).FullName;
        File.WriteAllText(Path.Combine(directory, "greeting.txt"), Greeting);
        return directory;
    }
}
