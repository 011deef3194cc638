using System.Text;
using Anthropic;
using Anthropic.Models.Messages;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Simulation;

/// <summary>
/// The official Anthropic .NET SDK, with its response validation on, reads the Messages upstream's
/// answers, streamed and not: text, a tool call with its input in JSON fragments, and usage.
/// </summary>
public sealed class AnthropicSdkTests(SimulatorFixture sims) : IClassFixture<SimulatorFixture>
{
    private AnthropicClient Client => new()
    {
        ApiKey = SimulatorFixture.Key,
        BaseUrl = sims[SimulatorFlavor.Anthropic].Address,
        MaxRetries = 0,
        ResponseValidation = true,
    };

    [Fact]
    public async Task ANonStreamedMessage_IsReadWithTextAndUsage()
    {
        var message = await Client.Messages.Create(new MessageCreateParams
        {
            MaxTokens = 256,
            Model = "claude-sonnet-4-5",
            Messages = [new UserMessageParam("hello from the anthropic sdk")],
        });

        Assert.True(message.Content[0].TryPickText(out var text));
        Assert.Contains("hello from the anthropic sdk", text!.Text, StringComparison.Ordinal);
        Assert.Equal(sims[SimulatorFlavor.Anthropic].Requests[^1].Reported!.Output, message.Usage.OutputTokens);
    }

    [Fact]
    public async Task AStreamedToolCall_IsReadEventByEvent_WithItsInputAndUsage()
    {
        var parameters = new MessageCreateParams
        {
            MaxTokens = 256,
            Model = "claude-sonnet-4-5",
            Messages = [new UserMessageParam("[[sim: tool=Bash cmd=\"git status\"]]")],
        };

        var json = new StringBuilder();
        string? tool = null;
        long? output = null;
        var stopped = false;
        await foreach (var streamEvent in Client.Messages.CreateStreaming(parameters))
        {
            if (streamEvent.TryPickContentBlockStart(out var start) && start!.ContentBlock.TryPickToolUse(out var toolUse))
            {
                tool = toolUse!.Name;
            }

            if (streamEvent.TryPickContentBlockDelta(out var delta) && delta!.Delta.TryPickInputJson(out var fragment))
            {
                json.Append(fragment!.PartialJson);
            }

            if (streamEvent.TryPickDelta(out var messageDelta))
            {
                output = messageDelta!.Usage.OutputTokens;
            }

            stopped |= streamEvent.TryPickStop(out _);
        }

        Assert.Equal("Bash", tool);
        Assert.Equal("""{"command":"git status"}""", json.ToString());
        Assert.Equal(sims[SimulatorFlavor.Anthropic].Requests[^1].Reported!.Output, output);
        Assert.True(stopped);
    }
}
