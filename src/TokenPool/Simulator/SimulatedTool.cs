using System.Text.Json.Nodes;

namespace TokenPool.Simulator;

/// <summary>A tool the client offers: a function with a JSON schema, or a freeform (custom) tool.</summary>
internal sealed record SimulatedTool(string Name, bool IsCustom, JsonObject? Parameters);
