namespace TokenPool.Simulator;

/// <summary>Faults applied to a share of all requests a simulator serves (for fault runs across many requests).</summary>
internal sealed record FaultProfile(double FailRate = 0, int FailStatus = 500, double StallRate = 0, double DropRate = 0, int Seed = 1)
{
    public static readonly FaultProfile None = new();

    public SimulatorFaults Pick(Random random)
    {
        var roll = random.NextDouble();
        if (roll < FailRate)
        {
            return new SimulatorFaults { Status = FailStatus };
        }

        roll -= FailRate;
        if (roll < StallRate)
        {
            return new SimulatorFaults { StallAfter = -1 };
        }

        roll -= StallRate;
        return roll < DropRate ? new SimulatorFaults { DropAfter = 3 } : SimulatorFaults.None;
    }
}
