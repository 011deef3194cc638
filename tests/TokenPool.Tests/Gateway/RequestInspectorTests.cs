using System.Text;
using System.Text.Json.Nodes;
using TokenPool.Gateway;

namespace TokenPool.Tests.Gateway;

public sealed class RequestInspectorTests
{
    [Fact]
    public void Inspect_PicksOutTheFieldsRoutingAndBillingNeed_IgnoringNestedLookAlikes()
    {
        var facts = Inspect("""
            {"input":[{"type":"message","content":[{"type":"input_text","text":"hi","model":"nested"}]}],"metadata":{"model":"nope","stream":false},
             "model":"gpt-5.5","stream":true,"max_output_tokens":2048,"prompt_cache_key":"pck","previous_response_id":"resp_1"}
            """);

        Assert.Equal("gpt-5.5", facts.Model);
        Assert.True(facts.Stream);
        Assert.Equal(2048, facts.MaxOutputTokens);
        Assert.Equal("pck", facts.PromptCacheKey);
        Assert.Equal("resp_1", facts.PreviousResponseId);
    }

    [Fact]
    public void Inspect_ReadsChatStreamOptionsAndTokenLimits()
    {
        var facts = Inspect("""{"model":"gpt-5.4","messages":[],"stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":99}""");

        Assert.True(facts.HasStreamOptions);
        Assert.True(facts.IncludeUsage);
        Assert.Equal(99, facts.MaxOutputTokens);
    }

    [Theory]
    [InlineData("", "invalid_json")]
    [InlineData("[1,2]", "invalid_json")]
    [InlineData("""{"model":"gpt-5.5","input":[}""", "invalid_json")]
    [InlineData("""{"model":"gpt-5.5","input":"a"} trailing""", "invalid_json")]
    [InlineData("""{"input":"no model"}""", "missing_required_parameter")]
    public void Inspect_RefusesBodiesItCannotUse(string body, string code)
    {
        Assert.False(RequestInspector.TryInspect(Encoding.UTF8.GetBytes(body), out _, out var error));
        Assert.Equal(code, error!.Code);
        Assert.Equal(400, error.Status);
    }

    [Fact]
    public void Rewrite_LeavesTheBodyAloneWhenNothingChanges()
    {
        var body = """{"model":"gpt-5.5","input":"x","store":false,"max_output_tokens":2048}"""u8.ToArray();
        Assert.True(RequestInspector.TryInspect(body, out var facts, out _));

        Assert.Null(RequestRewriter.Rewrite(body, facts, Plan("gpt-5.5")));
    }

    [Fact]
    public void Rewrite_SplicesTheAliasIntoTheModelAndKeepsEveryOtherByte()
    {
        var body = """{ "input":"model \"gpt-5.5\"", "model" : "gpt-5.5", "max_output_tokens" : 2048, "tools":[{"type":"web_search"}] }"""u8.ToArray();
        Assert.True(RequestInspector.TryInspect(body, out var facts, out _));

        var rewritten = Encoding.UTF8.GetString(RequestRewriter.Rewrite(body, facts, Plan("gpt-5.5-2026-04"))!);

        Assert.Equal("""{ "input":"model \"gpt-5.5\"", "model" : "gpt-5.5-2026-04", "max_output_tokens" : 2048, "tools":[{"type":"web_search"}] }""", rewritten);
    }

    [Theory]
    [InlineData("""{"model":"m","messages":[],"stream":true}""")]
    [InlineData("""{"model":"m","messages":[],"stream":true,"stream_options":{"include_obfuscation":false}}""")]
    public void Rewrite_AsksAChatStreamForUsage(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        Assert.True(RequestInspector.TryInspect(body, out var facts, out _));

        var node = JsonNode.Parse(RequestRewriter.Rewrite(body, facts, Plan("m") with { AskForStreamUsage = true }))!;

        Assert.True((bool)node["stream_options"]!["include_usage"]!);
        Assert.True((bool)node["stream"]!);
    }

    [Fact]
    public void Rewrite_DropsOnlyReasoningItems()
    {
        var body = """{"model":"m","input":[{"type":"message","role":"user","content":"a"},{"type":"reasoning","id":"rs_1","encrypted_content":"gAAAA"},{"type":"function_call_output","call_id":"c","output":"o"}],"reasoning":{"effort":"high"}}"""u8.ToArray();
        Assert.True(RequestInspector.TryInspect(body, out var facts, out _));
        Assert.True(TokenPool.Gateway.Dialects.Responses.ResponsesDialect.Instance.HasForeignableReasoning(body));

        var node = JsonNode.Parse(RequestRewriter.Rewrite(body, facts, Plan("m") with { DropReasoning = true }))!;

        Assert.Equal(["message", "function_call_output"], node["input"]!.AsArray().Select(i => (string?)i!["type"]));
        Assert.Equal("high", (string?)node["reasoning"]!["effort"]);
    }

    private static RewritePlan Plan(string model) => new(model, 2048, "max_output_tokens", AskForStreamUsage: false, DropReasoning: false);

    private static RequestFacts Inspect(string json)
    {
        Assert.True(RequestInspector.TryInspect(Encoding.UTF8.GetBytes(json), out var facts, out var error), error?.Message);
        return facts;
    }
}
