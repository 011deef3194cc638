using TokenPool.Simulator;

namespace TokenPool.Tests.Simulator;

public sealed class SimulatorFaultsTests
{
    [Fact]
    public void AHeaderSpec_ReadsEveryKindOfValue()
    {
        var faults = SimulatorFaults.Parse("status=429 retry_after=1.5 code=rate_limit_exceeded leak cut=mid-tool fail_code=x usage=10,20,5,2,100,200 text=\"two words\" flavor=deepseek");

        Assert.Equal(429, faults.Status);
        Assert.Equal(1.5, faults.RetryAfter);
        Assert.Equal("rate_limit_exceeded", faults.Code);
        Assert.True(faults.LeakSecrets);
        Assert.Equal(StreamStage.Tool, faults.Cut);
        Assert.Equal((10L, 20L, 5L, 2L, 100L, 200L), faults.Usage);
        Assert.Equal("two words", faults.Text);
        Assert.Equal(SimulatorFlavor.DeepSeek, faults.Flavor);
    }

    [Fact]
    public void AKeySpec_IsReadFromKeysThatStartWithSim_SeparatedBySemicolons()
    {
        var spec = SimulatorFaults.KeySpec("sim;flavor=vllm;no_usage;delay_headers_ms=50");

        var faults = SimulatorFaults.Parse(spec);

        Assert.Equal(SimulatorFlavor.Vllm, faults.Flavor);
        Assert.True(faults.NoUsage);
        Assert.Equal(50, faults.DelayHeadersMs);
        Assert.Null(SimulatorFaults.KeySpec("sk-real-key"));
    }

    [Fact]
    public void AFlavourAlone_LeavesTheFaultsEmpty_SoTheNextSourceStillCounts()
    {
        Assert.True(SimulatorFaults.Parse("flavor=ollama").IsEmpty);
        Assert.False(SimulatorFaults.Parse("agent").IsEmpty);
    }

    [Theory]
    [InlineData("status=abc")]
    [InlineData("flavor=gemini")]
    [InlineData("cut=sometime")]
    public void AMalformedSpec_GivesNoFaults_InsteadOfFailingTheRequest(string spec)
    {
        Assert.Throws<FormatException>(() => SimulatorFaults.Parse(spec));
        Assert.Equal(SimulatorFaults.None, SimulatorFaults.TryParse(spec));
    }

    [Fact]
    public void ADirective_IsFoundInPromptText()
    {
        Assert.Equal("agent file=a.txt", SimulatorFaults.Directive("please [[sim: agent file=a.txt]] do it"));
        Assert.Null(SimulatorFaults.Directive("no directive here"));
    }
}
