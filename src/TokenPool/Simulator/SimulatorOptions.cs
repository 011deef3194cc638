namespace TokenPool.Simulator;

/// <summary>Settings of one simulated upstream.</summary>
internal sealed record SimulatorOptions
{
    /// <summary>Where to listen, e.g. <c>http://127.0.0.1:0</c> (any free port).</summary>
    public string Urls { get; init; } = "http://127.0.0.1:0";

    /// <summary>When set, only this key is accepted; other keys get 401 in the flavour's shape.</summary>
    public string? ApiKey { get; init; }

    public IReadOnlyList<string> Models { get; init; } = [];

    /// <summary>Faults applied to a share of all requests.</summary>
    public FaultProfile Faults { get; init; } = FaultProfile.None;

    /// <summary>The real server this simulator imitates (OpenAI by default).</summary>
    public SimulatorFlavor Flavor { get; init; } = SimulatorFlavor.OpenAi;

    /// <summary>
    /// Behaviour applied to every request that asks for nothing itself (no <c>x-sim</c> header, no prompt
    /// directive, no key spec), in the <see cref="SimulatorFaults.Parse"/> syntax, e.g. <c>agent</c>.
    /// </summary>
    public string? Defaults { get; init; }

    /// <summary>
    /// The bearer token that opens the request log and the fault controls under <c>/_sim/</c>. Without
    /// one they are not served at all (404): requests carry users' prompts and forwarded headers.
    /// </summary>
    public string? ControlToken { get; init; }
}
