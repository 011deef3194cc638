using TokenPool.Billing;
using TokenPool.Cli;
using TokenPool.Upstreams;

namespace TokenPool.Tests.Cli;

/// <summary>The <c>tokenpool channel add</c> timeout flags and <c>tokenpool model set</c>, run against a real store in a temporary directory.</summary>
public sealed class ChannelAndModelCommandTests : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("tokenpool-cli-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task ChannelAdd_StoresTheTimeoutFlags_AndLeavesUnsetOnesToTheDefault()
    {
        var exit = await RunAsync("channel", "add", "--name", "slow", "--base-url", "http://127.0.0.1:9/v1", "--api-key", "sk-upstream-test-1234", "--models", "gpt-5.5",
            "--connect-timeout", "3", "--idle-timeout", "30", "--total-timeout", "90");

        Assert.Equal(0, exit);
        await using var store = await CliStore.OpenAsync(_data, CancellationToken.None);
        var channel = (await store.Get<ChannelService>().FindAsync("slow", CancellationToken.None))!;
        Assert.Equal((3, (int?)null, 30, 90), (channel.ConnectTimeoutSeconds, channel.ResponseHeadersTimeoutSeconds, channel.StreamIdleTimeoutSeconds, channel.TotalTimeoutSeconds));
    }

    [Fact]
    public async Task ChannelAdd_RefusesATimeoutOutOfRange()
    {
        var exit = await RunAsync("channel", "add", "--name", "bad", "--base-url", "http://127.0.0.1:9/v1", "--api-key", "sk-upstream-test-1234", "--models", "gpt-5.5",
            "--total-timeout", "0");

        Assert.Equal(1, exit);
        await using var store = await CliStore.OpenAsync(_data, CancellationToken.None);
        Assert.Null(await store.Get<ChannelService>().FindAsync("bad", CancellationToken.None));
    }

    [Fact]
    public async Task ModelSet_ChangesPrices_AndKeepsTheDescription()
    {
        Assert.Equal(0, await RunAsync("model", "set", "--model", "gpt-5.5", "--input", "2", "--output", "8"));

        await using var store = await CliStore.OpenAsync(_data, CancellationToken.None);
        var catalogue = store.Get<PriceCatalog>();
        await catalogue.LoadAsync(CancellationToken.None);
        var price = catalogue.Find("gpt-5.5")!;
        Assert.Equal((2_000_000, 200_000, 8_000_000), (price.InputMicrosPerMillion, price.CachedInputMicrosPerMillion, price.OutputMicrosPerMillion));
        Assert.Equal("Flagship coding model; the docs' default for Codex", price.Description);
    }

    private Task<int> RunAsync(params string[] args) =>
        TokenPoolCommands.Create().Parse(["--data", _data, .. args]).InvokeAsync();
}
