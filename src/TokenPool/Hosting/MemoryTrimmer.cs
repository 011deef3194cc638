namespace TokenPool.Hosting;

/// <summary>
/// Gives memory back to the system after a burst. The collector keeps the heap it grew for a burst (a thousand
/// open streams, say) long after the burst is over; so, when the heap has grown well past
/// where it was last trimmed and the process is no longer allocating fast (the burst is over), this runs one
/// compacting collection that returns unused memory to the system. It looks once a second and never runs while the
/// process is busy.
/// </summary>
internal sealed partial class MemoryTrimmer(TimeProvider time, ILogger<MemoryTrimmer> logger) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MinimumSpacing = TimeSpan.FromSeconds(10);
    private const long GrowthBytes = 16L << 20;
    private const long QuietBytesPerSecond = 8L << 20;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        var baseline = GC.GetGCMemoryInfo().TotalCommittedBytes;
        var allocated = GC.GetTotalAllocatedBytes();
        var lastTrim = time.GetTimestamp();
        var previousQuiet = false;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                var committed = GC.GetGCMemoryInfo().TotalCommittedBytes;
                var nowAllocated = GC.GetTotalAllocatedBytes();
                var rate = (nowAllocated - allocated) / Interval.TotalSeconds;
                allocated = nowAllocated;
                baseline = Math.Min(baseline, committed);

                // Quiet for two seconds in a row: one quiet second may fall between two bursts.
                var quiet = rate <= QuietBytesPerSecond;
                var wasQuiet = previousQuiet;
                previousQuiet = quiet;
                if (!wasQuiet || !ShouldTrim(committed, baseline, rate, time.GetElapsedTime(lastTrim)))
                {
                    continue;
                }

                GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
                baseline = GC.GetGCMemoryInfo().TotalCommittedBytes;
                lastTrim = time.GetTimestamp();
                LogTrimmed(logger, committed >> 20, baseline >> 20);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Trim when the heap has grown by 16 MiB or more over its last low point, the process allocates under 8 MiB a
    /// second (no burst under way), and the last trim was at least 10 seconds ago.
    /// </summary>
    internal static bool ShouldTrim(long committedBytes, long baselineBytes, double allocatedBytesPerSecond, TimeSpan sinceLastTrim) =>
        committedBytes - baselineBytes >= GrowthBytes && allocatedBytesPerSecond <= QuietBytesPerSecond && sinceLastTrim >= MinimumSpacing;

    [LoggerMessage(EventId = 1021, Level = LogLevel.Information, Message = "Returned memory after a burst: the heap held {BeforeMiB} MiB, now {AfterMiB} MiB")]
    private static partial void LogTrimmed(ILogger logger, long beforeMiB, long afterMiB);
}
