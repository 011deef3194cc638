using System.Text.RegularExpressions;
using TokenPool.Docs;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Clients;

/// <summary>
/// The README's quick start, as a newcomer follows it: <c>tokenpool serve</c> with no channel (the
/// built-in simulated upstream), a user and a key from the CLI, the README's Codex configuration, and
/// <c>codex exec</c> with a tool call.
/// </summary>
[Collection(RealClients.Collection)]
public sealed partial class QuickStartTests : IAsyncLifetime
{
    private string _root = null!;

    public Task InitializeAsync()
    {
        _root = Directory.CreateTempSubdirectory("tokenpool-quickstart-").FullName;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task ReadmeQuickStart_GivesAWorkingCodexExecWithAToolCall()
    {
        var data = Path.Combine(_root, "data");
        await using var server = await ServerProcess.StartAsync(data);

        var user = await ServerProcess.CliAsync(data, "user", "add", "--email", "you@example.com", "--password", "a long password", "--credit", "5");
        Assert.True(user.ExitCode == 0, user.ToString());
        var created = await ServerProcess.CliAsync(data, "key", "create", "--email", "you@example.com", "--name", "laptop");
        Assert.True(created.ExitCode == 0, created.ToString());
        var key = created.Stdout.Trim();
        Assert.Matches("^sk-tp-[0-9A-Za-z]{49}$", key);

        // The README's snippets, with the address this server listens on in place of 127.0.0.1:8080.
        var readme = await File.ReadAllTextAsync(Path.Combine(ClientProcess.RepositoryRoot, "README.md"));
        var configToml = FencedBlock(readme, "toml").Replace("http://127.0.0.1:8080", server.Address.ToString().TrimEnd('/'), StringComparison.Ordinal);
        var authJson = FencedBlock(readme, "json").Replace(ClientSetup.KeyPlaceholder, key, StringComparison.Ordinal);
        var codexHome = Directory.CreateDirectory(Path.Combine(_root, "home", ".codex")).FullName;
        await File.WriteAllTextAsync(Path.Combine(codexHome, "auth.json"), authJson);
        await File.WriteAllTextAsync(Path.Combine(codexHome, "config.toml"), configToml);
        var work = Directory.CreateDirectory(Path.Combine(_root, "project")).FullName;

        var run = await ClientProcess.RunAsync(
            ClientProcess.Binary("codex"),
            ["exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", "run `echo quickstart-ok` and tell me what it printed"],
            Path.Combine(_root, "home"),
            work,
            new Dictionary<string, string> { ["CODEX_HOME"] = codexHome });

        Assert.True(run.ExitCode == 0, run + "\n--- server ---\n" + server.Output);
        Assert.Contains("quickstart-ok", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("SIMULATED", server.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(key, server.Output, StringComparison.Ordinal);

        var show = await ServerProcess.CliAsync(data, "user", "show", "--email", "you@example.com");
        Assert.Contains("\"requests\": 2", show.Stdout.Replace("\":2", "\": 2", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public void ReadmeSnippets_AreTheOnesTheConsoleHandsOut()
    {
        var readme = File.ReadAllText(Path.Combine(ClientProcess.RepositoryRoot, "README.md"));
        var setup = new ClientSetup("http://127.0.0.1:8080", ClientSetup.KeyPlaceholder, "gpt-5.5", "gpt-5.4-nano");

        Assert.Equal(setup.CodexConfigToml().Trim(), FencedBlock(readme, "toml").Trim());
        Assert.Equal(setup.CodexAuthJson().Trim(), FencedBlock(readme, "json").Trim());
    }

    private static string FencedBlock(string markdown, string language)
    {
        var match = Fence().Matches(markdown).FirstOrDefault(m => m.Groups["lang"].Value == language)
            ?? throw new InvalidOperationException($"The README has no ```{language} block.");
        return match.Groups["body"].Value;
    }

    [GeneratedRegex("```(?<lang>[a-z]+)\\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex Fence();
}
