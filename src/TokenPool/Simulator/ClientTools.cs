using System.Text.Json.Nodes;

namespace TokenPool.Simulator;

/// <summary>
/// Finds, among the tools a client offers, the ones a coding agent needs, whatever the client calls
/// them and however they reach the simulator (natively or through a translation), and writes the
/// arguments each expects. Captured from the pinned clients:
/// <list type="bullet">
/// <item>shell: Codex <c>exec_command{cmd}</c>, OpenCode <c>bash{command}</c>, Claude Code <c>Bash{command,description}</c>;</item>
/// <item>patch: Codex's freeform <c>custom</c> tool <c>apply_patch</c> (a function with one string argument once translated to
/// Chat or Messages), OpenCode's <c>apply_patch{patchText}</c> for GPT model names;</item>
/// <item>edit: OpenCode <c>edit{filePath,oldString,newString}</c>, Claude Code <c>Edit{file_path,old_string,new_string}</c>,
/// each wanting the file read first with <c>read{filePath}</c> / <c>Read{file_path}</c>.</item>
/// </list>
/// </summary>
internal static class ClientTools
{
    private static readonly string[] ShellPreference = ["exec_command", "shell_command", "shell", "bash", "Bash", "run_command", "terminal"];
    private static readonly string[] PathNames = ["file_path", "filePath", "path", "file"];
    private static readonly string[] OldNames = ["old_string", "oldString", "old_str", "old"];
    private static readonly string[] NewNames = ["new_string", "newString", "new_str", "new"];

    /// <summary>The shell tool: a function that takes a command (<c>cmd</c> or <c>command</c>), the best-known name first.</summary>
    public static SimulatedTool? Shell(IReadOnlyList<SimulatedTool> tools)
    {
        var candidates = tools.Where(t => !t.IsCustom && ShellArguments(t, "x") is not null).ToList();
        foreach (var preferred in ShellPreference)
        {
            if (candidates.FirstOrDefault(c => c.Name == preferred) is { } tool)
            {
                return tool;
            }
        }

        return candidates.FirstOrDefault();
    }

    /// <summary>A patch tool in Codex's patch language: <c>apply_patch</c>, freeform or as a function with one string argument.</summary>
    public static SimulatedTool? Patch(IReadOnlyList<SimulatedTool> tools) =>
        tools.FirstOrDefault(t => t.Name.EndsWith("apply_patch", StringComparison.Ordinal) && (t.IsCustom || StringProperty(t.Parameters) is not null));

    /// <summary>A string-replacing edit tool (a path, the old text and the new text).</summary>
    public static SimulatedTool? Edit(IReadOnlyList<SimulatedTool> tools) =>
        tools.FirstOrDefault(t => !t.IsCustom && Property(t, PathNames) is not null && Property(t, OldNames) is not null && Property(t, NewNames) is not null);

    /// <summary>A file-reading tool (a path and nothing else required).</summary>
    public static SimulatedTool? Read(IReadOnlyList<SimulatedTool> tools) =>
        tools.FirstOrDefault(t => !t.IsCustom && t.Name.Equals("read", StringComparison.OrdinalIgnoreCase) && Property(t, PathNames) is not null)
        ?? tools.FirstOrDefault(t => !t.IsCustom && t.Name.Contains("read", StringComparison.OrdinalIgnoreCase) && Property(t, PathNames) is not null);

    /// <summary>Arguments that run <paramref name="command"/> with this tool, or null if it takes no command.</summary>
    public static string? ShellArguments(SimulatedTool tool, string command)
    {
        if (tool.Parameters?["properties"] is not JsonObject properties)
        {
            return null;
        }

        if (properties["cmd"] is not null)
        {
            return new JsonObject { ["cmd"] = command }.ToJsonString();
        }

        if (properties["command"] is JsonObject commandSchema)
        {
            var arguments = (string?)commandSchema["type"] == "array"
                ? new JsonObject { ["command"] = new JsonArray("bash", "-lc", command) }
                : new JsonObject { ["command"] = command };
            if (properties["description"] is not null)
            {
                arguments["description"] = "Run the requested command";
            }

            return arguments.ToJsonString();
        }

        return null;
    }

    /// <summary>The arguments (or, for a freeform tool, the raw input) that apply <paramref name="patch"/>.</summary>
    public static string PatchArguments(SimulatedTool tool, string patch) =>
        tool.IsCustom ? patch : new JsonObject { [StringProperty(tool.Parameters) ?? "input"] = patch }.ToJsonString();

    public static string EditArguments(SimulatedTool tool, string path, string oldText, string newText) => new JsonObject
    {
        [Property(tool, PathNames)!] = path,
        [Property(tool, OldNames)!] = oldText,
        [Property(tool, NewNames)!] = newText,
    }.ToJsonString();

    public static string ReadArguments(SimulatedTool tool, string path) => new JsonObject { [Property(tool, PathNames)!] = path }.ToJsonString();

    private static string? Property(SimulatedTool tool, string[] names) =>
        tool.Parameters?["properties"] is JsonObject properties ? names.FirstOrDefault(properties.ContainsKey) : null;

    /// <summary>The only required string property (or the only property), e.g. <c>patchText</c> or <c>input</c>.</summary>
    private static string? StringProperty(JsonObject? parameters)
    {
        if (parameters?["properties"] is not JsonObject properties)
        {
            return null;
        }

        var strings = properties.Where(p => (string?)(p.Value as JsonObject)?["type"] == "string").Select(p => p.Key).ToList();
        return strings.Count == 1 ? strings[0] : strings.FirstOrDefault(s => s is "input" or "patch" or "patchText");
    }
}
