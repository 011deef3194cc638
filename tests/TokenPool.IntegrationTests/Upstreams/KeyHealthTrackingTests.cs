using System.Net;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.IntegrationTests.Upstreams;

/// <summary>Issue 5: what the pool remembers about each upstream key, across configuration changes.</summary>
public sealed class KeyHealthTrackingTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private HttpClient _client = null!;

    private UpstreamPool Pool => _gateway.Get<UpstreamPool>();

    public async Task InitializeAsync()
    {
        _gateway = await TestGateway.StartAsync();
        _client = _gateway.ClientWithKey(await _gateway.CreateKeyAsync(10m));
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task KeyRejectedByItsUpstream_TakesRequestsAgainOnThisInstance_OnceEnabledInTheStore()
    {
        var keyId = _gateway.ChannelKeyIds[0];
        _gateway.Upstreams[0].ForcedFaults = SimulatorFaults.Parse("status=401 code=invalid_api_key");
        using (var rejected = await _client.PostAsync("v1/responses", Api.Responses()))
        {
            Assert.NotEqual(HttpStatusCode.OK, rejected.StatusCode);
        }

        Assert.Equal(KeyState.Disabled, Pool.AllHealth[keyId].Report().State);
        Assert.False((await _gateway.Channels.FindAsync("sim-1", CancellationToken.None))!.Keys[0].IsEnabled);

        // Enabled through the store (the CLI, or another instance's console), not through this instance's page.
        _gateway.Upstreams[0].ForcedFaults = null;
        await _gateway.Channels.SetKeyEnabledAsync(_gateway.ChannelIds[0], keyId, enabled: true, CancellationToken.None);

        Assert.True(await Api.EventuallyAsync(() => Pool.AllHealth[keyId].DisabledReason is null && Pool.Snapshot.Route("gpt-5.5")!.All.Any(t => t.KeyId == keyId), TimeSpan.FromSeconds(10)));
        using var served = await _client.PostAsync("v1/responses", Api.Responses());
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(KeyState.Healthy, Pool.AllHealth[keyId].Report().State);
    }

    [Fact]
    public async Task RemovedKey_IsForgotten_WhileTheOthersKeepTheirCounts()
    {
        var oldKey = _gateway.ChannelKeyIds[0];
        using (var response = await _client.PostAsync("v1/responses", Api.Responses()))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, Pool.AllHealth[oldKey].Report().WindowRequests);
        var newKey = (await _gateway.Channels.AddKeyAsync(_gateway.ChannelIds[0], _gateway.UpstreamKeys[0], 1, CancellationToken.None)).Id;
        Assert.True(await Api.EventuallyAsync(() => Pool.AllHealth.ContainsKey(newKey), TimeSpan.FromSeconds(10)));

        await _gateway.Channels.RemoveKeyAsync(_gateway.ChannelIds[0], oldKey, CancellationToken.None);

        Assert.True(await Api.EventuallyAsync(() => !Pool.AllHealth.ContainsKey(oldKey), TimeSpan.FromSeconds(10)));
        Assert.True(Pool.AllHealth.ContainsKey(newKey));
    }
}
