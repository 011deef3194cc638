namespace TokenPool.Simulator;

/// <summary>A piece of the prompt as sent (JSON text), and the Anthropic cache breakpoint on it, if any (<c>5m</c> or <c>1h</c>).</summary>
internal sealed record PromptSegment(string Json, string? CacheTtl = null)
{
    public long Tokens => SimulatedTurn.Tokens(Json);
}
