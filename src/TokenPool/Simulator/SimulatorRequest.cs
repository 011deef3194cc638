namespace TokenPool.Simulator;

/// <summary>A request the simulator received, for tests that check what TokenPool sent upstream.</summary>
internal sealed record SimulatorRequest(DateTime At, string Method, string Path, IReadOnlyDictionary<string, string> Headers, string Body)
{
    /// <summary>The usage the simulator reported in its answer (null when it answered with an error or no usage).</summary>
    public SimulatedUsage? Reported { get; set; }

    /// <summary>The flavour that answered.</summary>
    public string? Flavor { get; set; }
}
