using System.Text.Json.Nodes;
using TokenPool.Simulator;

namespace TokenPool.Tests.Simulator;

public sealed class AgentScriptTests
{
    [Theory]
    [InlineData("hello there\nsecond\n", null, "hello there", "hello, world there")]
    [InlineData("1:hello there", null, "hello there", "hello, world there")]
    [InlineData("nothing useful", "     1\u2192say hello\n     2\u2192bye", "say hello", "say hello, world")]
    [InlineData("nothing useful", "00001| hello\n", "hello", "hello, world")]
    [InlineData("no match", null, "hello", "hello, world")]
    public void TheLineToChange_IsTheWholeLineThatHoldsTheOldText_WithoutLineNumbers(string output, string? read, string oldLine, string newLine)
    {
        Assert.Equal((oldLine, newLine), AgentScript.LineToChange(output, read, "hello", "hello, world"));
    }

    [Fact]
    public void CodexsWrappedOutput_IsUnwrapped_OtherOutputsAreKept()
    {
        Assert.Equal("hi\n", AgentScript.CommandOutput("Chunk ID: 1\nWall time: 0 seconds\nProcess exited with code 0\nOutput:\nhi\n"));
        Assert.Equal("plain", AgentScript.CommandOutput("plain"));
    }

    [Theory]
    [InlineData("<environment_context>\n  <cwd>/w/codex</cwd>\n</environment_context>", "/w/codex/a.txt")]
    [InlineData("<env>\n  Working directory: /w/opencode\n</env>", "/w/opencode/a.txt")]
    [InlineData("# Environment\n - Primary working directory: /w/claude\n", "/w/claude/a.txt")]
    [InlineData("no directory stated", "a.txt")]
    public void TheFilesPath_IsJoinedToTheWorkingDirectoryTheClientStates(string context, string expected)
    {
        var conversation = Conversation.Read(SimulatedApi.Chat, new JsonObject
        {
            ["model"] = "m",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "system", ["content"] = context }, new JsonObject { ["role"] = "user", ["content"] = "go" }),
        });

        Assert.Equal(expected, AgentScript.AbsolutePath(conversation, "a.txt"));
    }
}
