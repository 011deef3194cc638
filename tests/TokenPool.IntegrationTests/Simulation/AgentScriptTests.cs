using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Simulation;

/// <summary>
/// The scripted agent carries out its multi-step task with each client's own tools, on every API: these
/// tests play the client (they run the tool calls against a small in-memory project, in each client's
/// result format) and check every step and the end state. The tool schemas are the ones the pinned
/// clients send (captured from Codex 0.169/0.171, OpenCode 1.18.33 and Claude Code 2.1.332), and the
/// translated forms a gateway sends a Chat or Messages upstream.
/// </summary>
public sealed partial class AgentScriptTests(SimulatorFixture sims) : IClassFixture<SimulatorFixture>
{
    private const string Cwd = "/home/dev/project";
    private const string ShellCmd = """{"type":"object","properties":{"cmd":{"type":"string"},"workdir":{"type":"string"}},"required":["cmd"]}""";
    private const string ShellCommand = """{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"integer"}},"required":["command"]}""";
    private const string ClaudeBash = """{"type":"object","properties":{"command":{"type":"string"},"timeout":{"type":"number"},"description":{"type":"string"}},"required":["command"]}""";
    private const string PatchText = """{"type":"object","properties":{"patchText":{"type":"string"}},"required":["patchText"]}""";
    private const string PatchInput = """{"type":"object","properties":{"input":{"type":"string","description":"The patch"}},"required":["input"]}""";
    private const string OpenCodeRead = """{"type":"object","properties":{"filePath":{"type":"string"},"offset":{"type":"integer"},"limit":{"type":"integer"}},"required":["filePath"]}""";
    private const string OpenCodeEdit = """{"type":"object","properties":{"filePath":{"type":"string"},"oldString":{"type":"string"},"newString":{"type":"string"},"replaceAll":{"type":"boolean"}},"required":["filePath","oldString","newString"]}""";
    private const string ClaudeRead = """{"type":"object","properties":{"file_path":{"type":"string"},"offset":{"type":"integer"},"limit":{"type":"integer"}},"required":["file_path"]}""";
    private const string ClaudeEdit = """{"type":"object","properties":{"file_path":{"type":"string"},"old_string":{"type":"string"},"new_string":{"type":"string"},"replace_all":{"type":"boolean"}},"required":["file_path","old_string","new_string"]}""";

    [Fact]
    public async Task Codex_OnResponses_RunsReadsPatchesWithTheFreeformApplyPatch_ChecksAndAnswers()
    {
        var tools = new JsonArray(
            Function("exec_command", ShellCmd),
            new JsonObject { ["type"] = "custom", ["name"] = "apply_patch", ["format"] = new JsonObject { ["type"] = "grammar", ["syntax"] = "lark", ["definition"] = "start: begin_patch hunk+ end_patch" } },
            new JsonObject { ["type"] = "web_search", ["external_web_access"] = false });

        var run = await new ResponsesClient(sims, tools, $"<environment_context>\n  <cwd>{Cwd}</cwd>\n</environment_context>", CodexOutput).RunAsync();

        Assert.Equal(["exec_command", "apply_patch", "exec_command"], run.Calls);
        Assert.Equal("hello, world there\nsecond line\n", run.Project["greeting.txt"]);
        Assert.Contains("hello there", run.Answer, StringComparison.Ordinal);
        Assert.Contains("hello, world there", run.Answer, StringComparison.Ordinal);
        Assert.Equal("custom_tool_call", run.CallTypes[1]);
    }

    [Fact]
    public async Task OpenCode_OnResponses_PatchesWithItsApplyPatchFunction()
    {
        var tools = new JsonArray(Function("bash", ShellCommand), Function("read", OpenCodeRead), Function("apply_patch", PatchText));

        var run = await new ResponsesClient(sims, tools, $"<env>\n  Working directory: {Cwd}\n</env>", output => output).RunAsync();

        Assert.Equal(["bash", "apply_patch", "bash"], run.Calls);
        Assert.Equal("hello, world there\nsecond line\n", run.Project["greeting.txt"]);
        Assert.Contains("hello, world there", run.Answer, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("vllm")]
    [InlineData("ollama")]
    [InlineData("deepseek")]
    [InlineData("sglang")]
    [InlineData("openai")]
    public async Task OpenCode_OnEachChatFlavour_ReadsTheFileBeforeItsEditTool_ThenChecks(string flavor)
    {
        var tools = new JsonArray(ChatFunction("bash", ShellCommand), ChatFunction("read", OpenCodeRead), ChatFunction("edit", OpenCodeEdit));

        var run = await new ChatClient(sims, SimulatorFlavors.Parse(flavor)!.Value, tools, $"You are opencode.\n<env>\n  Working directory: {Cwd}\n</env>").RunAsync();

        Assert.Equal(["bash", "read", "edit", "bash"], run.Calls);
        Assert.Equal($"{Cwd}/greeting.txt", run.Arguments[1]["filePath"]!.GetValue<string>());
        Assert.Equal("hello there", run.Arguments[2]["oldString"]!.GetValue<string>());
        Assert.Equal("hello, world there\nsecond line\n", run.Project["greeting.txt"]);
        Assert.Contains("hello, world there", run.Answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Codex_ThroughAChatTranslation_PatchesWithTheFunctionThatStandsForApplyPatch()
    {
        var tools = new JsonArray(ChatFunction("exec_command", ShellCmd), ChatFunction("apply_patch", PatchInput));

        var run = await new ChatClient(sims, SimulatorFlavor.Vllm, tools, $"<environment_context><cwd>{Cwd}</cwd></environment_context>").RunAsync();

        Assert.Equal(["exec_command", "apply_patch", "exec_command"], run.Calls);
        Assert.StartsWith("*** Begin Patch\n*** Update File: greeting.txt\n", run.Arguments[1]["input"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("hello, world there\nsecond line\n", run.Project["greeting.txt"]);
    }

    [Fact]
    public async Task ClaudeCode_OnMessages_UsesBashReadEditBash_WithAbsolutePaths_AndThinks()
    {
        var tools = new JsonArray(Tool("Bash", ClaudeBash), Tool("Read", ClaudeRead), Tool("Edit", ClaudeEdit), Tool("Write", """{"type":"object","properties":{"file_path":{"type":"string"},"content":{"type":"string"}}}"""));

        var run = await new MessagesClient(sims, tools, thinking: true).RunAsync();

        Assert.Equal(["Bash", "Read", "Edit", "Bash"], run.Calls);
        Assert.Equal($"{Cwd}/greeting.txt", run.Arguments[2]["file_path"]!.GetValue<string>());
        Assert.Equal("Run the requested command", run.Arguments[0]["description"]!.GetValue<string>());
        Assert.Equal("hello, world there\nsecond line\n", run.Project["greeting.txt"]);
        Assert.Contains("hello there", run.Answer, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Codex_ThroughAMessagesTranslation_PatchesWithApplyPatchAsAnAnthropicTool()
    {
        var tools = new JsonArray(Tool("exec_command", ShellCmd), Tool("apply_patch", PatchInput));

        var run = await new MessagesClient(sims, tools, thinking: false).RunAsync();

        Assert.Equal(["exec_command", "apply_patch", "exec_command"], run.Calls);
        Assert.Equal("hello, world there\nsecond line\n", run.Project["greeting.txt"]);
    }

    [Fact]
    public async Task TheTaskIsSetByTheDirective_FileOldNewAndCommands()
    {
        var tools = new JsonArray(ChatFunction("bash", ShellCommand), ChatFunction("apply_patch", PatchText));
        var client = new ChatClient(sims, SimulatorFlavor.OpenAi, tools, "", task: "[[sim: agent file=src/app.txt old=TODO new=DONE cmd=\"grep -n TODO src/app.txt\" check=\"cat src/app.txt\"]] finish it");
        client.Project["src/app.txt"] = "status: TODO\n";

        var run = await client.RunAsync();

        Assert.Equal("grep -n TODO src/app.txt", run.Arguments[0]["command"]!.GetValue<string>());
        Assert.Equal("status: DONE\n", run.Project["src/app.txt"]);
        Assert.Equal("cat src/app.txt", run.Arguments[2]["command"]!.GetValue<string>());
    }

    private static JsonObject Function(string name, string schema) => new() { ["type"] = "function", ["name"] = name, ["parameters"] = JsonNode.Parse(schema), ["strict"] = false };

    private static JsonObject ChatFunction(string name, string schema) =>
        new() { ["type"] = "function", ["function"] = new JsonObject { ["name"] = name, ["parameters"] = JsonNode.Parse(schema) } };

    private static JsonObject Tool(string name, string schema) => new() { ["name"] = name, ["description"] = name, ["input_schema"] = JsonNode.Parse(schema) };

    private static string CodexOutput(string output) => $"Chunk ID: 1a2b3c\nWall time: 0.0010 seconds\nProcess exited with code 0\nOriginal token count: 4\nOutput:\n{output}";

    /// <summary>What a client run of the task saw: the tools called, their arguments, the final answer and the project after it.</summary>
    private sealed record AgentRun(List<string> Calls, List<JsonObject> Arguments, List<string> CallTypes, string Answer, Dictionary<string, string> Project);

    /// <summary>Plays a coding client: runs the simulated model's tool calls against a small in-memory project.</summary>
    private abstract partial class FakeClient(SimulatorFixture sims, SimulatorFlavor flavor)
    {
        public Dictionary<string, string> Project { get; } = new() { ["greeting.txt"] = "hello there\nsecond line\n" };

        protected HttpClient Http { get; } = sims.Client(flavor);

        public async Task<AgentRun> RunAsync()
        {
            var calls = new List<string>();
            var arguments = new List<JsonObject>();
            var types = new List<string>();
            for (var turn = 0; turn < 8; turn++)
            {
                var (answer, call) = await NextAsync();
                if (call is null)
                {
                    return new AgentRun(calls, arguments, types, answer, Project);
                }

                calls.Add(call.Value.Name);
                types.Add(call.Value.Type);
                var parsed = call.Value.Type == "custom_tool_call" ? new JsonObject { ["input"] = call.Value.Arguments } : JsonNode.Parse(call.Value.Arguments)!.AsObject();
                arguments.Add(parsed);
                SendResult(call.Value.Id, Execute(call.Value.Name, parsed));
            }

            throw new InvalidOperationException("The agent did not finish within 8 turns: " + string.Join(", ", calls));
        }

        /// <summary>Sends the conversation so far; returns the answer text and the tool call, if any.</summary>
        protected abstract Task<(string Text, (string Name, string Arguments, string Id, string Type)? Call)> NextAsync();

        protected abstract void SendResult(string callId, string output);

        private string Execute(string name, JsonObject arguments)
        {
            var path = (string?)(arguments["filePath"] ?? arguments["file_path"]);
            var relative = path is null ? null : path.StartsWith(Cwd + "/", StringComparison.Ordinal) ? path[(Cwd.Length + 1)..] : path;
            switch (name.ToLowerInvariant())
            {
                case "bash" or "exec_command":
                    var command = (string)(arguments["cmd"] ?? arguments["command"])!;
                    var file = command.Split(' ')[^1];
                    return !Project.TryGetValue(file, out var content) ? $"cat: {file}: No such file or directory"
                        : command.StartsWith("grep -n ", StringComparison.Ordinal) ? string.Join("\n", content.Split('\n').Select((l, i) => $"{i + 1}:{l}").Where(l => l.Contains(command.Split(' ')[2], StringComparison.Ordinal)))
                        : content;
                case "read":
                    return string.Join("\n", Project[relative!].TrimEnd('\n').Split('\n').Select((line, i) => $"{i + 1,6}\u2192{line}"));
                case "edit":
                    var old = (string)(arguments["oldString"] ?? arguments["old_string"])!;
                    Assert.Contains(old, Project[relative!], StringComparison.Ordinal);
                    Project[relative!] = Project[relative!].Replace(old, (string)(arguments["newString"] ?? arguments["new_string"])!, StringComparison.Ordinal);
                    return "The file has been updated.";
                default:
                    var patch = (string)(arguments["input"] ?? arguments["patchText"])!;
                    var match = PatchPattern().Match(patch);
                    Assert.True(match.Success, "a patch in Codex's patch language: " + patch);
                    var target = match.Groups["file"].Value;
                    Assert.Contains(match.Groups["old"].Value + "\n", Project[target], StringComparison.Ordinal);
                    Project[target] = Project[target].Replace(match.Groups["old"].Value + "\n", match.Groups["new"].Value + "\n", StringComparison.Ordinal);
                    return "Success. Updated the following files:\nM " + target;
            }
        }

        [GeneratedRegex(@"^\*\*\* Begin Patch\n\*\*\* Update File: (?<file>[^\n]+)\n@@\n-(?<old>[^\n]*)\n\+(?<new>[^\n]*)\n\*\*\* End Patch\n$")]
        private static partial Regex PatchPattern();
    }

    private sealed class ResponsesClient(SimulatorFixture sims, JsonArray tools, string context, Func<string, string> wrap) : FakeClient(sims, SimulatorFlavor.OpenAi)
    {
        private readonly JsonArray _input =
        [
            new JsonObject { ["type"] = "message", ["role"] = "developer", ["content"] = "You are a coding agent." },
            new JsonObject { ["type"] = "message", ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "input_text", ["text"] = context }) },
            new JsonObject { ["type"] = "message", ["role"] = "user", ["content"] = new JsonArray(new JsonObject { ["type"] = "input_text", ["text"] = "[[sim: agent]] Fix the greeting" }) },
        ];

        protected override async Task<(string, (string, string, string, string)?)> NextAsync()
        {
            var body = new JsonObject { ["model"] = "gpt-5.5", ["input"] = _input.DeepClone(), ["tools"] = tools.DeepClone(), ["reasoning"] = new JsonObject { ["effort"] = "medium" }, ["store"] = false };
            using var response = await Http.PostAsync("v1/responses", Sim.Json(body.ToJsonString()));
            var output = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["output"]!.AsArray();
            var text = "";
            (string, string, string, string)? call = null;
            foreach (var item in output)
            {
                _input.Add(item!.DeepClone());
                switch ((string?)item["type"])
                {
                    case "message":
                        text = (string)item["content"]![0]!["text"]!;
                        break;
                    case "function_call":
                        call = ((string)item["name"]!, (string)item["arguments"]!, (string)item["call_id"]!, "function_call");
                        break;
                    case "custom_tool_call":
                        call = ((string)item["name"]!, (string)item["input"]!, (string)item["call_id"]!, "custom_tool_call");
                        break;
                }
            }

            return (text, call);
        }

        protected override void SendResult(string callId, string output)
        {
            var type = _input.Last(i => (string?)i!["call_id"] == callId)!["type"]!.GetValue<string>() + "_output";
            _input.Add(new JsonObject { ["type"] = type, ["call_id"] = callId, ["output"] = wrap(output) });
        }
    }

    private sealed class ChatClient(SimulatorFixture sims, SimulatorFlavor flavor, JsonArray tools, string system, string task = "[[sim: agent]] Fix the greeting") : FakeClient(sims, flavor)
    {
        private readonly JsonArray _messages =
        [
            new JsonObject { ["role"] = "system", ["content"] = system },
            new JsonObject { ["role"] = "user", ["content"] = task },
        ];

        protected override async Task<(string, (string, string, string, string)?)> NextAsync()
        {
            var body = new JsonObject { ["model"] = "qwen3-coder", ["messages"] = _messages.DeepClone(), ["tools"] = tools.DeepClone(), ["max_tokens"] = 32000 };
            using var response = await Http.PostAsync("v1/chat/completions", Sim.Json(body.ToJsonString()));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, text);
            var message = JsonNode.Parse(text)!["choices"]![0]!["message"]!.AsObject();
            _messages.Add(message.DeepClone());
            var call = message["tool_calls"]?[0];
            return ((string?)message["content"] ?? "", call is null ? null
                : ((string)call["function"]!["name"]!, (string)call["function"]!["arguments"]!, (string)call["id"]!, "function"));
        }

        protected override void SendResult(string callId, string output) =>
            _messages.Add(new JsonObject { ["role"] = "tool", ["tool_call_id"] = callId, ["content"] = output });
    }

    private sealed class MessagesClient(SimulatorFixture sims, JsonArray tools, bool thinking) : FakeClient(sims, SimulatorFlavor.Anthropic)
    {
        private readonly JsonArray _messages =
        [
            new JsonObject
            {
                ["role"] = "user",
                ["content"] = new JsonArray(
                    new JsonObject { ["type"] = "text", ["text"] = "<system-reminder>\nrun `rm -rf /` is never what you should do\n</system-reminder>" },
                    new JsonObject { ["type"] = "text", ["text"] = "[[sim: agent]] Fix the greeting" }),
            },
            new JsonObject { ["role"] = "system", ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = $"# Environment\n - Primary working directory: {Cwd}\n" }) },
        ];

        protected override async Task<(string, (string, string, string, string)?)> NextAsync()
        {
            var body = new JsonObject
            {
                ["model"] = "claude-sonnet-4-5", ["max_tokens"] = 32000, ["messages"] = _messages.DeepClone(), ["tools"] = tools.DeepClone(),
                ["system"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = "You are Claude Code." }),
            };
            if (thinking)
            {
                body["thinking"] = new JsonObject { ["type"] = "adaptive" };
            }

            using var response = await Http.PostAsync("v1/messages", Sim.Json(body.ToJsonString()));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, text);
            var content = JsonNode.Parse(text)!["content"]!.AsArray();
            Assert.Equal(thinking, content.Any(b => (string?)b!["type"] == "thinking"));
            _messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = content.DeepClone() });
            var answer = string.Concat(content.Where(b => (string?)b!["type"] == "text").Select(b => (string?)b!["text"]));
            var call = content.FirstOrDefault(b => (string?)b!["type"] == "tool_use");
            return (answer, call is null ? null : ((string)call["name"]!, call["input"]!.ToJsonString(), (string)call["id"]!, "tool_use"));
        }

        protected override void SendResult(string callId, string output) => _messages.Add(new JsonObject
        {
            ["role"] = "user",
            ["content"] = new JsonArray(new JsonObject { ["type"] = "tool_result", ["tool_use_id"] = callId, ["content"] = output, ["is_error"] = false }),
        });
    }
}
