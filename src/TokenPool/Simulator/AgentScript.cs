using System.Text;
using System.Text.RegularExpressions;

namespace TokenPool.Simulator;

/// <summary>
/// The scripted agent: a small multi-step coding task the simulated model carries out with any client's
/// own tools, on every API. Like a real model it keeps no state: each step is decided from the
/// conversation it is sent, so it works for every client and through any translation.
/// <list type="number">
/// <item>Run <c>cmd</c> (default <c>cat greeting.txt</c>) with the client's shell tool.</item>
/// <item>When the client edits by string replacement (OpenCode's <c>edit</c>, Claude Code's <c>Edit</c>), read the file
/// first with its read tool, as those tools demand.</item>
/// <item>Replace <c>old</c> (default <c>hello</c>) with <c>new</c> (default <c>hello, world</c>) in <c>file</c>, in the line
/// the command's output showed, with the client's patch tool (<c>apply_patch</c>) or its edit tool.</item>
/// <item>Run the check (default <c>cat</c> of the file).</item>
/// <item>Answer with a final message that quotes what the first command and the check printed.</item>
/// </list>
/// Select it with <c>agent</c> in <c>x-sim</c>, a prompt directive (<c>[[sim: agent file=a.txt old=x new=y]]</c>), a key spec
/// or <see cref="SimulatorOptions.Defaults"/>.
/// </summary>
internal static partial class AgentScript
{
    /// <summary>The preamble text and tool call of the next step, or the final text (no call).</summary>
    public static (string Text, SimulatedToolCall? Call) Next(Conversation conversation, SimulatorFaults faults, Func<string> newCallId)
    {
        var file = faults.File ?? "greeting.txt";
        var oldText = faults.Old ?? "hello";
        var newText = faults.New ?? "hello, world";
        var first = faults.Command ?? $"cat {file}";
        var check = faults.Check ?? $"cat {file}";
        var tools = conversation.Tools;
        var shell = ClientTools.Shell(tools);
        var patch = ClientTools.Patch(tools);
        var edit = patch is null ? ClientTools.Edit(tools) : null;
        var read = edit is null ? null : ClientTools.Read(tools);
        if (shell is null)
        {
            return ($"TokenPool simulated agent (not a real model): the task needs a shell tool and this request offers none. Task: {Trim(Directiveless(conversation.TaskText), 200)}", null);
        }

        string? firstOutput = null, readOutput = null, editOutput = null, checkOutput = null;
        var step = Step.Run;
        foreach (var (name, output) in Results(conversation))
        {
            switch (step)
            {
                case Step.Run when name == shell.Name:
                    firstOutput = output;
                    step = read is not null ? Step.Read : patch is not null || edit is not null ? Step.Edit : Step.Done;
                    break;
                case Step.Read when name == read!.Name:
                    readOutput = output;
                    step = Step.Edit;
                    break;
                case Step.Edit when name == (patch ?? edit)!.Name:
                    editOutput = output;
                    step = Step.Check;
                    break;
                case Step.Check when name == shell.Name:
                    checkOutput = output;
                    step = Step.Done;
                    break;
            }
        }

        var path = AbsolutePath(conversation, file);
        switch (step)
        {
            case Step.Run:
                return ($"I'll start by running `{first}` to see the file.", Call(shell, ClientTools.ShellArguments(shell, first)!));
            case Step.Read:
                return ($"Reading {file} before editing it.", Call(read!, ClientTools.ReadArguments(read!, path)));
            case Step.Edit:
                var (oldLine, newLine) = LineToChange(firstOutput, readOutput, oldText, newText);
                return patch is not null
                    ? ($"Replacing `{oldText}` with `{newText}` in {file}.", Call(patch, ClientTools.PatchArguments(patch, $"*** Begin Patch\n*** Update File: {file}\n@@\n-{oldLine}\n+{newLine}\n*** End Patch\n"), patch.IsCustom))
                    : ($"Replacing `{oldText}` with `{newText}` in {file}.", Call(edit!, ClientTools.EditArguments(edit!, path, oldLine, newLine)));
            case Step.Check:
                return ($"Checking the result with `{check}`.", Call(shell, ClientTools.ShellArguments(shell, check)!));
            default:
                var answer = new StringBuilder()
                    .Append("Done (TokenPool simulated agent). `").Append(first).Append("` printed:\n").Append(Quote(firstOutput)).Append('\n');
                if (editOutput is null)
                {
                    answer.Append("No patch or edit tool was offered, so the file was left as it was.\n");
                    return (answer.ToString(), null);
                }

                answer.Append("I replaced `").Append(oldText).Append("` with `").Append(newText).Append("` in ").Append(file).Append(". `")
                    .Append(check).Append("` now prints:\n").Append(Quote(checkOutput));
                return (answer.ToString(), null);
        }

        SimulatedToolCall Call(SimulatedTool tool, string arguments, bool isCustom = false) => new(isCustom, tool.Name, arguments, newCallId());
    }

    /// <summary>The tool results after the task message, each with the name of the call it answers, in order.</summary>
    private static IEnumerable<(string Name, string Output)> Results(Conversation conversation)
    {
        var start = Math.Max(0, conversation.TaskIndex);
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = start; i < conversation.Parts.Count; i++)
        {
            var part = conversation.Parts[i];
            if (part is { Kind: PartKind.ToolCall, CallId: not null, Name: not null })
            {
                names[part.CallId] = part.Name;
            }
            else if (part is { Kind: PartKind.ToolResult, CallId: not null } && names.TryGetValue(part.CallId, out var name))
            {
                yield return (name, CommandOutput(part.Text));
            }
        }
    }

    /// <summary>The line of the file that holds <paramref name="oldText"/>, as the command (or the read tool) showed it, and that line changed.</summary>
    internal static (string OldLine, string NewLine) LineToChange(string? commandOutput, string? readOutput, string oldText, string newText)
    {
        var lines = (commandOutput ?? "").Split('\n').Concat((readOutput ?? "").Split('\n')).Select(l => LineNumber().Replace(l, ""));
        foreach (var raw in lines)
        {
            var line = raw.TrimEnd('\r');
            var at = line.IndexOf(oldText, StringComparison.Ordinal);
            if (at >= 0)
            {
                return (line, string.Concat(line.AsSpan(0, at), newText, line.AsSpan(at + oldText.Length)));
            }
        }

        return (oldText, newText);
    }

    /// <summary>A command's own output: Codex wraps it (<c>Chunk ID … Output:</c>); other clients send it as it is.</summary>
    internal static string CommandOutput(string result)
    {
        var marker = result.IndexOf("\nOutput:\n", StringComparison.Ordinal);
        return marker >= 0 ? result[(marker + 9)..] : result;
    }

    /// <summary>The client's working directory as its prompt states it (Codex, OpenCode, Claude Code), joined with <paramref name="file"/>.</summary>
    internal static string AbsolutePath(Conversation conversation, string file)
    {
        if (file.StartsWith('/'))
        {
            return file;
        }

        foreach (var text in conversation.AllText)
        {
            var match = WorkingDirectory().Match(text);
            if (match.Success)
            {
                var directory = (match.Groups[1].Success ? match.Groups[1].Value : match.Groups[2].Value).Trim();
                return directory.TrimEnd('/') + "/" + file;
            }
        }

        return file;
    }

    private static string Quote(string? output) => Trim((output ?? "(nothing)").TrimEnd('\n'), 600);

    private static string Directiveless(string? text) => text is null ? "" : DirectiveText().Replace(text, "").Trim();

    private static string Trim(string text, int max) => text.Length <= max ? text : text[..max] + "…";

    private enum Step
    {
        Run,
        Read,
        Edit,
        Check,
        Done,
    }

    [GeneratedRegex(@"<cwd>([^<\n]+)</cwd>|(?:Primary working directory|Working directory):\s*([^\n]+)")]
    private static partial Regex WorkingDirectory();

    /// <summary>Line-number prefixes read tools and <c>grep -n</c> add: <c>     1→</c>, <c>     1\t</c>, <c>00001| </c>, <c>1:</c>.</summary>
    [GeneratedRegex(@"^\s*\d+(?:→|\t|\| |:\s?)")]
    private static partial Regex LineNumber();

    [GeneratedRegex(@"\[\[sim:.*?\]\]", RegexOptions.Singleline)]
    private static partial Regex DirectiveText();
}
