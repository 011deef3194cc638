namespace TokenPool.Simulator;

/// <summary>One server-sent event: its <c>event:</c> name (none for Chat chunks), its data, and its stage.</summary>
internal sealed record StreamEvent(string? Name, byte[] Data, StreamStage Stage);
