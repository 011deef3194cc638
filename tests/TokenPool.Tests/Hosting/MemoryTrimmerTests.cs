using TokenPool.Hosting;

namespace TokenPool.Tests.Hosting;

public sealed class MemoryTrimmerTests
{
    private const long MiB = 1L << 20;

    [Fact]
    public void AfterABurst_WhenTheProcessIsQuiet_TheHeapIsTrimmed() =>
        Assert.True(MemoryTrimmer.ShouldTrim(committedBytes: 90 * MiB, baselineBytes: 60 * MiB, allocatedBytesPerSecond: MiB, TimeSpan.FromMinutes(1)));

    [Fact]
    public void WhileRequestsKeepAllocating_NoTrimInterruptsThem() =>
        Assert.False(MemoryTrimmer.ShouldTrim(90 * MiB, 60 * MiB, allocatedBytesPerSecond: 100 * MiB, TimeSpan.FromMinutes(1)));

    [Fact]
    public void WithoutRealGrowth_NothingIsTrimmed() =>
        Assert.False(MemoryTrimmer.ShouldTrim(70 * MiB, 60 * MiB, MiB, TimeSpan.FromMinutes(1)));

    [Fact]
    public void RightAfterATrim_TheNextWaitsItsTurn() =>
        Assert.False(MemoryTrimmer.ShouldTrim(90 * MiB, 60 * MiB, MiB, TimeSpan.FromSeconds(3)));
}
