using System.Net;
using System.Text;
using System.Text.Json;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Hosting;

/// <summary>
/// A deployment with named hosts: the API on its API hosts, the website on the web host, and an API
/// request sent to the website (or the console) answered with JSON that names the right base_url.
/// </summary>
public sealed class HostRoutingTests : IAsyncLifetime
{
    private const string ApiHost = "api.example.test";
    private const string AltApiHost = "api2.example.test";
    private const string WebHost = "example.test";
    private const string AssetsHost = "cdn.example.test";

    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(options =>
    {
        options.Settings["Hosts:ApiHosts:0"] = ApiHost;
        options.Settings["Hosts:ApiHosts:1"] = AltApiHost;
        options.Settings["Hosts:WebHost"] = WebHost;
        options.Settings["Hosts:AssetsHost"] = AssetsHost;
    });

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private static HttpRequestMessage Request(HttpMethod method, string host, string path, string? key = null, string? accept = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Host = host;
        if (key is not null)
        {
            request.Headers.Authorization = new("Bearer", key);
        }

        if (accept is not null)
        {
            request.Headers.Accept.ParseAdd(accept);
        }

        if (method == HttpMethod.Post)
        {
            request.Content = new StringContent("""{"model":"gpt-5.5","input":"hi"}""", Encoding.UTF8, "application/json");
        }

        return request;
    }

    [Theory]
    [InlineData("/responses", false)]
    [InlineData("/v1/responses", false)]
    [InlineData("/v1/chat/completions", false)]
    [InlineData("/console/responses", true)]
    [InlineData("/console/v1/responses", true)]
    [InlineData("/console/api-keys/responses", true)]
    public async Task ApiRequestToTheWebHost_GetsJsonNamingTheApiBaseUrl(string path, bool console)
    {
        var key = await _gateway.CreateKeyAsync();

        using var response = await _gateway.Client.SendAsync(Request(HttpMethod.Post, WebHost, path, key));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var error = json.RootElement.GetProperty("error");
        Assert.Equal("wrong_base_url", error.GetProperty("code").GetString());
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains($"https://{ApiHost}/v1", message, StringComparison.Ordinal);
        Assert.Contains($"https://{AltApiHost}/v1", message, StringComparison.Ordinal);
        Assert.Contains(console ? "web console" : "TokenPool website", message, StringComparison.Ordinal);
        Assert.Empty(_gateway.Upstreams[0].Requests);
    }

    [Fact]
    public async Task ApiListRequestToTheWebHost_WithAKey_GetsTheWrongBaseUrlError()
    {
        var key = await _gateway.CreateKeyAsync();

        using var response = await _gateway.Client.SendAsync(Request(HttpMethod.Get, WebHost, "/models", key, "application/json"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("wrong_base_url", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiRequestToTheAssetsHost_GetsTheWrongBaseUrlError()
    {
        using var response = await _gateway.Client.SendAsync(Request(HttpMethod.Post, AssetsHost, "/v1/responses", "sk-tp-x"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("wrong_base_url", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AssetsHost_ServesTheStylesheetAndSendsPagesToTheWebHost()
    {
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _gateway.Address };

        using var css = await client.SendAsync(Request(HttpMethod.Get, AssetsHost, "/assets/docs/site.css"));
        using var page = await client.SendAsync(Request(HttpMethod.Get, AssetsHost, "/docs", accept: "text/html"));

        Assert.Equal(HttpStatusCode.OK, css.StatusCode);
        Assert.Equal("text/css", css.Content.Headers.ContentType?.MediaType);
        Assert.Equal(HttpStatusCode.Redirect, page.StatusCode);
        Assert.Equal($"https://{WebHost}/docs", page.Headers.Location?.ToString());
    }

    [Fact]
    public async Task ApiHost_ServesTheApi()
    {
        var key = await _gateway.CreateKeyAsync();

        using var response = await _gateway.Client.SendAsync(Request(HttpMethod.Post, AltApiHost, "/v1/responses", key));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(_gateway.Upstreams[0].Requests);
    }

    [Fact]
    public async Task WebHost_ServesTheDocsAndTheModelsPage()
    {
        using var docs = await _gateway.Client.SendAsync(Request(HttpMethod.Get, WebHost, "/docs/base-url", accept: "text/html"));
        using var models = await _gateway.Client.SendAsync(Request(HttpMethod.Get, WebHost, "/models", accept: "text/html"));

        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        var page = await docs.Content.ReadAsStringAsync();
        Assert.Contains($"https://{ApiHost}/v1", page, StringComparison.Ordinal);
        Assert.Contains($"https://{WebHost}/console", page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        Assert.Equal("text/html", models.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task ApiHost_SendsPagesToTheWebHost()
    {
        using var handlerClient = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _gateway.Address };

        using var response = await handlerClient.SendAsync(Request(HttpMethod.Get, ApiHost, "/docs/codex-cli", accept: "text/html"));

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal($"https://{WebHost}/docs/codex-cli", response.Headers.Location?.ToString());
    }

    [Fact]
    public async Task ApiHost_UnknownNonGetPath_IsJson()
    {
        using var response = await _gateway.Client.SendAsync(Request(HttpMethod.Post, ApiHost, "/respones", "sk-tp-x"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }
}

/// <summary>On a single local port (no hosts configured) the console used as base_url is answered with JSON too.</summary>
public sealed class SinglePortRoutingTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Theory]
    [InlineData("/console/responses")]
    [InlineData("/console/v1/responses")]
    [InlineData("/console/chat/completions")]
    public async Task ConsoleUsedAsBaseUrl_GetsJsonNamingTheApiBaseUrl(string path)
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);

        using var response = await client.PostAsync(path, new StringContent("""{"model":"gpt-5.5","input":"hi"}""", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("wrong_base_url", body, StringComparison.Ordinal);
        Assert.Contains(_gateway.Address.ToString().TrimEnd('/') + "/v1", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EverythingIsServedOnOnePort()
    {
        var key = await _gateway.CreateKeyAsync();
        using var client = _gateway.ClientWithKey(key);

        using var api = await client.PostAsync("/v1/responses", new StringContent("""{"model":"gpt-5.5","input":"hi"}""", Encoding.UTF8, "application/json"));
        using var docs = await _gateway.Client.GetAsync("/docs");

        Assert.Equal(HttpStatusCode.OK, api.StatusCode);
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
    }
}

/// <summary>API hosts named but no separate web host: the API host serves the website too, with no redirect loop.</summary>
public sealed class ApiHostsOnlyRoutingTests : IAsyncLifetime
{
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await TestGateway.StartAsync(o => o.Settings["Hosts:ApiHosts:0"] = "api.example.test");

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task ApiHost_ServesTheDocsWhenThereIsNoWebHost()
    {
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = _gateway.Address };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/docs");
        request.Headers.Host = "api.example.test";

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
