using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;
using TokenPool.Gateway.Translation;
using TokenPool.Gateway.Translation.Chat;
using TokenPool.Gateway.Translation.Messages;
using TokenPool.Gateway.Translation.Pivot;
using TokenPool.Gateway.Translation.Responses;
using static TokenPool.Tests.Gateway.Translation.BridgeHarness;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>
/// Random valid conversations (system prompt, user text and images, assistant text, parallel tool calls with JSON
/// arguments, tool results and errors, tools, tool choice, sampling, stop sequences) keep what a model needs when
/// written in one API, translated to another and read back, and when written and read in the same API.
/// </summary>
public sealed class ConversationPropertyTests
{
    private static readonly Gen<string> Text = Gen.Select(
        Gen.String[Gen.Char[" abcdefghijXYZ0123456789\"\\\n\t<>&/{}:é中"], 1, 40],
        Gen.Bool,
        (text, emoji) => emoji ? text + " 😀" : text);

    private static readonly Gen<string> Name = Gen.String[Gen.Char["abcdefghij_"], 1, 12].Select(n => "t" + n);

    private static readonly Gen<Conversation> Conversations =
        from system in Text.List[0, 2]
        from toolNames in Name.List[1, 4]
        from rounds in Gen.Int[1, 4]
        from seeds in Gen.Int[0, 1000].Array[rounds * 6]
        from texts in Text.Array[rounds * 6]
        from choice in Gen.Int[0, 4]
        from parallel in Gen.Bool
        from temperature in Gen.Int[0, 10]
        from stops in Text.List[0, 2]
        select Build(system, toolNames.Distinct().ToList(), rounds, seeds, texts, choice, parallel, temperature / 10.0, stops);

    private static Conversation Build(List<string> system, List<string> tools, int rounds, int[] seeds, string[] texts, int choice, bool parallel,
        double temperature, List<string> stops)
    {
        var conversation = new Conversation { Temperature = temperature, ParallelToolCalls = parallel ? null : false };
        conversation.Instructions.AddRange(system);
        conversation.Stop.AddRange(stops);
        foreach (var tool in tools)
        {
            conversation.Tools.Add(new ToolSpec(tool, "Does " + tool, """{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}""", ToolKind.Function));
        }

        conversation.ToolChoice = choice switch
        {
            0 => null,
            1 => ToolChoice.Auto,
            2 => ToolChoice.Required,
            3 => ToolChoice.None,
            _ => new ToolChoice(ToolChoiceMode.Named, tools[0]),
        };

        var call = 0;
        for (var round = 0; round < rounds; round++)
        {
            int Seed(int i) => seeds[(round * 6) + i];
            string TextAt(int i) => texts[(round * 6) + i];
            var user = new List<ContentPart> { new TextPart(TextAt(0)) };
            if (Seed(0) % 4 == 0)
            {
                user.Add(new ImagePart("data:image/png;base64,iVBORw0KGgo=", null));
            }

            conversation.Items.Add(new MessageItem(ItemRole.User, user));
            if (Seed(1) % 3 != 0)
            {
                conversation.Items.Add(new MessageItem(ItemRole.Assistant, [new TextPart(TextAt(1))]));
            }

            var calls = Seed(2) % 3;
            if (calls == 0 && Seed(1) % 3 == 0)
            {
                calls = 1;
            }

            var ids = new List<string>();
            for (var i = 0; i < calls; i++)
            {
                var id = $"call_{call++}";
                ids.Add(id);
                var arguments = new JsonObject { ["a"] = TextAt(2 + i) }.ToJsonString();
                conversation.Items.Add(new ToolCallItem(id, tools[Seed(3 + i) % tools.Count], arguments, ToolKind.Function));
            }

            foreach (var id in ids)
            {
                conversation.Items.Add(new ToolResultItem(id, [new TextPart(TextAt(4))], Seed(5) % 5 == 0));
            }

            if (ids.Count > 0 && round == rounds - 1)
            {
                conversation.Items.Add(new MessageItem(ItemRole.Assistant, [new TextPart(TextAt(5))]));
            }
        }

        return conversation;
    }

    private static readonly ApiKind[] Apis = [ApiKind.Responses, ApiKind.ChatCompletions, ApiKind.Messages];

    [Fact]
    public void ConversationsWrittenAndReadInTheSameApi_KeepEverythingTheModelNeeds()
    {
        Conversations.Sample(conversation =>
        {
            foreach (var api in Apis)
            {
                var body = Write(api, conversation);
                var expected = Digest(conversation, api, api);
                var actual = Digest(Read(api, body), api, api);
                Assert.True(expected == actual, $"{api}\nexpected: {expected}\nactual:   {actual}\nbody: {Encoding.UTF8.GetString(body)}");
            }
        }, iter: 300);
    }

    [Fact]
    public void ConversationsTranslatedFromEveryApiToEveryOther_KeepEverythingTheModelNeeds()
    {
        Conversations.Sample(conversation =>
        {
            foreach (var client in Apis)
            {
                foreach (var upstream in Apis.Where(a => a != client))
                {
                    var clientBody = Write(client, conversation);
                    var result = Bridge(client, upstream).TranslateRequest(clientBody, Options(client));
                    Assert.Null(result.Error);
                    var expected = Digest(conversation, client, upstream);
                    var actual = Digest(Read(upstream, result.Body!), client, upstream);
                    Assert.True(expected == actual, $"{client} → {upstream}\nexpected: {expected}\nactual:   {actual}\nupstream body: {Encoding.UTF8.GetString(result.Body!)}");
                }
            }
        }, iter: 200);
    }

    private static byte[] Write(ApiKind api, Conversation conversation)
    {
        var options = Options(api) with { UpstreamModel = "m" };
        return api switch
        {
            ApiKind.Responses => ResponsesRequestWriter.Write(conversation, options),
            ApiKind.ChatCompletions => ChatRequestWriter.Write(conversation, options),
            _ => MessagesRequestWriter.Write(conversation, options),
        };
    }

    private static Conversation Read(ApiKind api, byte[] body)
    {
        using var document = JsonDocument.Parse(body);
        var (conversation, error, _) = api switch
        {
            ApiKind.Responses => ResponsesRequestReader.Read(document.RootElement, Seal),
            ApiKind.ChatCompletions => ChatRequestReader.Read(document.RootElement, Seal),
            _ => MessagesRequestReader.Read(document.RootElement, Seal),
        };
        Assert.Null(error);
        return conversation!;
    }

    /// <summary>
    /// What must survive, normalised the way the APIs legitimately differ: system text is one block, neighbouring text
    /// of one role is joined, a tool error is said in its text where the API has no flag, arguments compare as JSON,
    /// parallel calls count only where calls may be made, and stop sequences only where both APIs have them (Responses has none).
    /// </summary>
    private static string Digest(Conversation conversation, ApiKind from, ApiKind to)
    {
        var digest = new StringBuilder();
        var system = string.Join("\n\n", conversation.Instructions.Concat(conversation.Items.OfType<MessageItem>().Where(m => m.Role == ItemRole.System)
            .Select(m => ChatRequestWriter.JoinText(m.Content))).Where(t => t.Length > 0));
        digest.Append("system=").Append(system).Append('\n');
        string? lastRole = null;
        foreach (var item in conversation.Items)
        {
            switch (item)
            {
                case MessageItem { Role: ItemRole.System }:
                    break;
                case MessageItem message:
                    var role = message.Role == ItemRole.User ? "U" : "A";
                    foreach (var part in message.Content)
                    {
                        var text = part is TextPart t ? t.Text : "[image " + ((ImagePart)part).Url + "]";
                        if (text.Length == 0)
                        {
                            continue;
                        }

                        digest.Append(lastRole == role ? "\n\n" : "\n" + role + ":").Append(text);
                        lastRole = role;
                    }

                    break;
                case ToolCallItem call:
                    digest.Append("\nC:").Append(call.CallId).Append('|').Append(call.Name).Append('|').Append(JsonNode.Parse(call.Arguments)!.ToJsonString());
                    lastRole = "C";
                    break;
                case ToolResultItem result:
                    var output = ChatRequestWriter.JoinText(result.Output);
                    digest.Append("\nR:").Append(result.CallId).Append('|').Append(result.IsError ? "Error: " + output : output);
                    lastRole = "R";
                    break;
            }
        }

        digest.Append("\ntools=").AppendJoin(',', conversation.Tools.Select(t => t.Name + JsonNode.Parse(t.ParametersJson!)!.ToJsonString()));
        digest.Append("\nchoice=").Append(conversation.Tools.Count == 0 ? "" : (conversation.ToolChoice ?? ToolChoice.Auto).ToString());
        // With tool_choice none no call is made, so whether calls may be parallel is moot (Anthropic's "none" takes no flag).
        digest.Append("\nno-parallel=").Append(conversation.Tools.Count > 0 && conversation.ParallelToolCalls == false && conversation.ToolChoice?.Mode != ToolChoiceMode.None);
        digest.Append("\ntemperature=").Append(conversation.Temperature);
        if (from != ApiKind.Responses && to != ApiKind.Responses)
        {
            digest.Append("\nstop=").AppendJoin('|', conversation.Stop);
        }

        return digest.ToString();
    }
}
