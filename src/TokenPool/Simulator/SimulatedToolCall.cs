namespace TokenPool.Simulator;

/// <summary>A tool call the simulated model makes: a function call, or a freeform (custom) tool call whose input is raw text.</summary>
internal sealed record SimulatedToolCall(bool IsCustom, string Name, string Arguments, string CallId);
