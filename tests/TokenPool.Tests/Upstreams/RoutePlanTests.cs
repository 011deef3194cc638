using System.Collections.Frozen;
using TokenPool.Gateway.Relay;
using TokenPool.Gateway.Translation;
using TokenPool.Upstreams;

namespace TokenPool.Tests.Upstreams;

public sealed class RoutePlanTests : IDisposable
{
    private static readonly UpstreamOptions Options = new() { BreakerWindow = 4, BreakerFailures = 2 };
    private static readonly BridgeSource Bridges = new();

    private readonly HttpMessageInvoker _invoker = new(new SocketsHttpHandler());

    [Fact]
    public void HighestPriorityGroup_IsUsedWhileAnyOfItIsAvailable()
    {
        var high = Target(1, priority: 10);
        var low = Target(2, priority: 0);
        var route = Route(high, low);

        for (var i = 0; i < 50; i++)
        {
            Assert.Same(high, new RoutePlan(route, ApiKind.Responses, Bridges, null).Next(Now));
        }
    }

    [Fact]
    public void EveryTarget_IsTriedAtMostOnce_HighGroupFirst()
    {
        var a = Target(1, priority: 10);
        var b = Target(2, priority: 10);
        var c = Target(3, priority: 0);
        var plan = new RoutePlan(Route(a, b, c), ApiKind.Responses, Bridges, null);

        var order = new[] { plan.Next(Now), plan.Next(Now), plan.Next(Now) };

        Assert.Equal([1L, 2L], order[..2].Select(t => t!.KeyId).Order());
        Assert.Same(c, order[2]);
        Assert.Null(plan.Next(Now));
        Assert.Equal(3, plan.Attempts);
    }

    [Fact]
    public void RestingTargets_AreSkipped_AndTheNextGroupIsUsed()
    {
        var cooling = Target(1, priority: 10);
        var open = Target(2, priority: 10);
        var disabled = Target(3, priority: 10);
        var backup = Target(4, priority: 0);
        cooling.Health.CoolDown(TimeSpan.FromSeconds(30), "429", Now);
        open.Health.RecordFailure("500", Now);
        open.Health.RecordFailure("500", Now);
        disabled.Health.Disable("401");
        var plan = new RoutePlan(Route(cooling, open, disabled, backup), ApiKind.Responses, Bridges, null);

        Assert.Same(backup, plan.Next(Now));
        Assert.Null(plan.Next(Now));

        var resting = new RoutePlan(Route(cooling, open, disabled), ApiKind.Responses, Bridges, null);
        Assert.Null(resting.Next(Now));
        Assert.Equal(Now + (Options.BreakerOpenSeconds * 1000), resting.EarliestAvailableAt());
    }

    [Fact]
    public void WeightsWithinAGroup_ShareTheLoad()
    {
        var heavy = Target(1, priority: 0, weight: 3);
        var light = Target(2, priority: 0, weight: 1);
        var route = Route(heavy, light);

        var heavyPicks = Enumerable.Range(0, 4000).Count(_ => new RoutePlan(route, ApiKind.Responses, Bridges, null).Next(Now) == heavy);

        Assert.InRange(heavyPicks / 4000.0, 0.71, 0.79);
    }

    [Fact]
    public void SessionTarget_ComesFirst_EvenFromALowerGroup_WhileHealthy()
    {
        var high = Target(1, priority: 10);
        var pinned = Target(2, priority: 0);
        var route = Route(high, pinned);

        var plan = new RoutePlan(route, ApiKind.Responses, Bridges, pinned);
        Assert.Same(pinned, plan.Next(Now));
        Assert.Same(high, plan.Next(Now));
        Assert.Null(plan.Next(Now));

        pinned.Health.CoolDown(TimeSpan.FromSeconds(5), "429", Now);
        Assert.Same(high, new RoutePlan(route, ApiKind.Responses, Bridges, pinned).Next(Now));
    }

    [Fact]
    public void ChatOnlyChannel_IsNeverPickedForTheResponsesApi()
    {
        var chatOnly = Target(1, priority: 10, wire: WireSet.Of(ApiKind.ChatCompletions));
        var responses = Target(2, priority: 0);
        var route = Route(chatOnly, responses);

        var plan = new RoutePlan(route, ApiKind.Responses, Bridges, chatOnly);
        Assert.Same(responses, plan.Next(Now));
        Assert.Null(plan.Next(Now));
        Assert.Same(chatOnly, new RoutePlan(route, ApiKind.ChatCompletions, Bridges, null).Next(Now));
    }

    [Fact]
    public void WithinAPriority_ChannelsServingTheClientsApiGoFirst_ThenThoseReachedOverABridge()
    {
        var bridges = new BridgeSource((client, upstream) => client == ApiKind.Responses && upstream == ApiKind.ChatCompletions ? new UnusedBridge() : null);
        var chatOnly = Target(1, priority: 10, weight: 1000, wire: WireSet.Of(ApiKind.ChatCompletions));
        var native = Target(2, priority: 10, weight: 1);
        var lower = Target(3, priority: 0);

        for (var i = 0; i < 50; i++)
        {
            var plan = new RoutePlan(Route(chatOnly, native, lower), ApiKind.Responses, bridges, null);
            Assert.Same(native, plan.Next(Now));
            Assert.Same(chatOnly, plan.Next(Now));
            Assert.Same(lower, plan.Next(Now));
            Assert.Null(plan.Next(Now));
        }
    }

    [Fact]
    public void ABridgedChannelOfHigherPriority_StillComesBeforeANativeOneOfLowerPriority()
    {
        var bridges = new BridgeSource((client, upstream) => upstream == ApiKind.ChatCompletions ? new UnusedBridge() : null);
        var chatOnly = Target(1, priority: 10, wire: WireSet.Of(ApiKind.ChatCompletions));
        var native = Target(2, priority: 0);

        var plan = new RoutePlan(Route(chatOnly, native), ApiKind.Responses, bridges, null);

        Assert.Same(chatOnly, plan.Next(Now));
        Assert.Same(native, plan.Next(Now));
    }

    [Fact]
    public void AChannelThatServesNeitherTheApiNorABridgedOne_IsNeverPicked()
    {
        var responsesOnly = Target(1, priority: 10, wire: WireSet.Of(ApiKind.Responses));
        var plan = new RoutePlan(Route(responsesOnly), ApiKind.ChatCompletions, Bridges, responsesOnly);

        Assert.Null(plan.Next(Now));
        Assert.Null(plan.EarliestAvailableAt());
    }

    public void Dispose() => _invoker.Dispose();

    /// <summary>A bridge routing only looks up, never uses.</summary>
    private sealed class UnusedBridge : IBridge
    {
        public ApiKind Client => throw new NotSupportedException();

        public ApiKind Upstream => throw new NotSupportedException();

        public BridgeRequest TranslateRequest(ReadOnlySpan<byte> clientBody, BridgeOptions options) => throw new NotSupportedException();

        public IStreamTranslator StartStream(BridgeOptions options) => throw new NotSupportedException();

        public byte[] TranslateResponse(ReadOnlySpan<byte> upstreamBody, BridgeOptions options) => throw new NotSupportedException();
    }

    private static long Now => 1_000_000;

    private static ModelRoute Route(params UpstreamTarget[] targets) =>
        new("gpt-5.5", [.. targets.GroupBy(t => t.Channel.Priority).OrderByDescending(g => g.Key).Select(g => g.ToArray())]);

    private UpstreamTarget Target(long keyId, int priority, double weight = 1, WireSet? wire = null) => new()
    {
        Channel = new ChannelRuntime
        {
            Id = keyId,
            Name = $"channel-{keyId}",
            BaseUri = new Uri("http://127.0.0.1:9/v1/"),
            Wire = wire ?? WireSet.OpenAi,
            Priority = priority,
            Weight = 1,
            Aliases = FrozenDictionary<string, string>.Empty,
            Invoker = _invoker,
            ResponseHeadersTimeout = TimeSpan.FromSeconds(1),
            StreamIdleTimeout = TimeSpan.FromSeconds(1),
            TotalTimeout = TimeSpan.FromSeconds(1),
        },
        KeyId = keyId,
        Secret = "sk-test",
        Weight = weight,
        Health = new KeyHealth(keyId, Options),
    };
}
