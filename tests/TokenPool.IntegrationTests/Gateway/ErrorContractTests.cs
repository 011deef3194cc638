using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Keys;

namespace TokenPool.IntegrationTests.Gateway;

/// <summary>Issue 2: every error a client meets is JSON in OpenAI's envelope with OpenAI's status and a message that says what to do.</summary>
public sealed class ErrorContractTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(o => o.Settings["Gateway:MaxRequestBodyBytes"] = "4096");

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task MissingKey_Returns401InvalidApiKey()
    {
        using var response = await _gateway.Client.PostAsync("v1/responses", Api.Responses());

        await Api.AssertErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_api_key", "No API key was sent", "Bearer <key>");
    }

    [Fact]
    public async Task UnknownKey_Returns401InvalidApiKey()
    {
        using var client = _gateway.ClientWithKey(ApiKeyFormat.Generate());
        using var response = await client.PostAsync("v1/responses", Api.Responses());

        await Api.AssertErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_api_key", "Incorrect API key provided", "No TokenPool key matches it");
    }

    [Fact]
    public async Task TruncatedKey_SaysTheKeyLooksIncompleteAndToCopyItAgain()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key[..(key.Length - 6)]);
        using var response = await client.PostAsync("v1/responses", Api.Responses());

        await Api.AssertErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_api_key", "looks incomplete", "Copy the whole key");
    }

    [Fact]
    public async Task MistypedKey_SaysTheKeyLooksIncompleteOrMistyped()
    {
        var key = await _gateway.CreateKeyAsync();
        var last = key[^1] == 'a' ? 'b' : 'a';
        using var client = _gateway.ClientWithKey(key[..^1] + last);
        using var response = await client.PostAsync("v1/chat/completions", Api.Chat());

        await Api.AssertErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_api_key", "looks incomplete", "Copy the whole key");
    }

    [Fact]
    public async Task UnknownModel_Returns404ModelNotFound_SayingHowToListModels()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.PostAsync("v1/responses", Api.Responses(model: "gpt-9-imaginary"));

        var error = await Api.AssertErrorAsync(response, HttpStatusCode.NotFound, "model_not_found", "\"gpt-9-imaginary\"", "/v1/models");
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Equal(0, _gateway.Upstreams[0].RequestCount);
    }

    [Fact]
    public async Task InvalidJson_Returns400()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.PostAsync("v1/chat/completions", Api.Json("""{"model":"gpt-5.5","messages":[}"""));

        await Api.AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_json", "could not parse the JSON body");
    }

    [Fact]
    public async Task BodyOverTheLimit_Returns413()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        using var response = await client.PostAsync("v1/responses", Api.Responses(new string('x', 10_000)));

        await Api.AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "request_too_large", "larger than", "/compact");
        Assert.Equal(0, _gateway.Upstreams[0].RequestCount);
    }

    [Theory]
    [InlineData("GET", "v1/nothing-here", HttpStatusCode.NotFound, "unknown_url")]
    [InlineData("POST", "v1/embeddings/extra", HttpStatusCode.NotFound, "unknown_url")]
    [InlineData("GET", "v1/responses", HttpStatusCode.MethodNotAllowed, "method_not_allowed")]
    [InlineData("DELETE", "v1/models", HttpStatusCode.MethodNotAllowed, "method_not_allowed")]
    [InlineData("PUT", "v1/chat/completions", HttpStatusCode.MethodNotAllowed, "method_not_allowed")]
    public async Task UnknownPathsAndWrongMethods_AnswerJsonNeverHtml(string method, string path, HttpStatusCode status, string code)
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        using var response = await client.SendAsync(request);

        await Api.AssertErrorAsync(response, status, code, "TokenPool serves POST /v1/responses");
    }

    [Fact]
    public async Task UpstreamRequestError_IsPassedThroughWithItsStatusAndBody()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Api.Responses() };
        request.Headers.Add("x-sim", "status=400 code=context_length_exceeded");
        using var response = await client.SendAsync(request);

        var error = await Api.AssertErrorAsync(response, HttpStatusCode.BadRequest, "context_length_exceeded");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(1, _gateway.Upstreams[0].RequestCount);
    }

    [Fact]
    public async Task UpstreamServerError_AfterEveryAttempt_IsPassedThroughWithItsBody()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/chat/completions") { Content = Api.Chat() };
        request.Headers.Add("x-sim", "status=502");
        using var response = await client.SendAsync(request);

        var error = await Api.AssertErrorAsync(response, HttpStatusCode.BadGateway, null);
        Assert.Equal("server_error", error.GetProperty("type").GetString());

        // The same request straight to the upstream: the client got the upstream's own error, unchanged.
        using var direct = new HttpClient();
        using var upstreamRequest = new HttpRequestMessage(HttpMethod.Post, _gateway.Upstreams[0].BaseUrl + "/chat/completions") { Content = Api.Chat() };
        upstreamRequest.Headers.Add("x-sim", "status=502");
        upstreamRequest.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", _gateway.UpstreamKeys[0]);
        using var upstream = await direct.SendAsync(upstreamRequest);
        using var upstreamBody = JsonDocument.Parse(await upstream.Content.ReadAsStringAsync());
        var upstreamError = upstreamBody.RootElement.GetProperty("error");
        Assert.Equal(HttpStatusCode.BadGateway, upstream.StatusCode);
        Assert.Equal(upstreamError.GetProperty("message").GetString(), error.GetProperty("message").GetString());
        Assert.Equal(upstreamError.GetProperty("code").ToString(), error.GetProperty("code").ToString());
    }

    [Fact]
    public async Task ModelsList_ShowsOnlyTheModelsTheKeyMayUse()
    {
        var all = _gateway.ClientWithKey(await _gateway.CreateKeyAsync());
        var limited = _gateway.ClientWithKey(await _gateway.CreateKeyAsync(settings: new NewKeySettings("limited", AllowedModels: ["gpt-5.4-mini", "gpt-5.5"])));

        using var allDocument = JsonDocument.Parse(await all.GetStringAsync("v1/models"));
        using var limitedDocument = JsonDocument.Parse(await limited.GetStringAsync("models"));

        Assert.Equal("list", allDocument.RootElement.GetProperty("object").GetString());
        var allIds = allDocument.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
        Assert.Contains("gpt-5.5", allIds);
        Assert.Contains("gpt-5.3-codex", allIds);
        var limitedModels = limitedDocument.RootElement.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["gpt-5.4-mini", "gpt-5.5"], limitedModels.Select(m => m.GetProperty("id").GetString()));
        Assert.All(limitedModels, m => Assert.Equal("model", m.GetProperty("object").GetString()));

        using var refused = await limited.PostAsync("v1/responses", Api.Responses(model: "gpt-5.3-codex"));
        await Api.AssertErrorAsync(refused, HttpStatusCode.Forbidden, "model_not_allowed", "gpt-5.4-mini, gpt-5.5");
        all.Dispose();
        limited.Dispose();
    }

    [Fact]
    public async Task ModelsList_WithoutKey_Returns401()
    {
        using var response = await _gateway.Client.GetAsync("v1/models");

        await Api.AssertErrorAsync(response, HttpStatusCode.Unauthorized, "invalid_api_key", "No API key was sent");
    }
}

/// <summary>Issue 2: the upstream's own failures map to 502 (unreachable) and 504 (timeout).</summary>
public sealed class UpstreamFailureStatusTests
{
    [Fact]
    public async Task UnreachableUpstream_Returns502UpstreamUnreachable()
    {
        await using var gateway = await TestGateway.StartAsync(o => o.ChannelList.Add(new TestChannel { Unreachable = true }));
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());
        using var response = await client.PostAsync("v1/responses", Api.Responses());

        await Api.AssertErrorAsync(response, HttpStatusCode.BadGateway, "upstream_unreachable", "could not reach an upstream for \"gpt-5.5\"");
    }

    [Fact]
    public async Task UpstreamThatDoesNotAnswerInTime_Returns504UpstreamTimeout()
    {
        await using var gateway = await TestGateway.StartAsync(o => o.ChannelList.Add(new TestChannel { ResponseHeadersTimeoutSeconds = 1 }));
        gateway.Upstreams[0].ForcedFaults = new Simulator.SimulatorFaults { DelayHeadersMs = 5000 };
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());
        using var response = await client.PostAsync("v1/chat/completions", Api.Chat());

        await Api.AssertErrorAsync(response, HttpStatusCode.GatewayTimeout, "upstream_timeout", "did not answer within 1 seconds");
    }

    [Fact]
    public async Task UnknownPathAtRoot_IsNeverAStackTrace()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var client = gateway.ClientWithKey(await gateway.CreateKeyAsync());
        using var response = await client.PostAsync("responses", Api.Json("not json at all"));

        await Api.AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_json");
        Assert.Equal(MediaTypeHeaderValue.Parse("application/json").MediaType, response.Content.Headers.ContentType?.MediaType);
    }
}
