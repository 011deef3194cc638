using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.Cli;

/// <summary>
/// The operator verbs as an operator runs them: the built <c>tokenpool</c> program on a data directory,
/// and for the limit flags a running <c>tokenpool serve</c> on the same store with the built-in simulated upstream.
/// </summary>
public sealed class OperatorCliTests : IAsyncLifetime
{
    private const string Email = "ops@example.com";
    private string _root = null!;

    private string DataDirectory => Path.Combine(_root, "data");

    public Task InitializeAsync()
    {
        _root = Directory.CreateTempSubdirectory("tokenpool-cli-").FullName;
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Serve_OnAPortAlreadyInUse_SaysSoPlainly_AndExitsWithOne()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var run = await ServerProcess.CliAsync(DataDirectory, "serve", "--urls", $"http://127.0.0.1:{port}");

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains($"TokenPool could not listen on http://127.0.0.1:{port}: the address is already in use.", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", run.Stdout + run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stdout + run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ChannelAdd_ThenList_ShowsTheWireFormatButNeverTheUpstreamKey()
    {
        const string upstreamKey = "sk-upstream-a1b2c3d4e5f6g7h8i9j0-WXYZ";

        var added = await CliAsync("channel", "add", "--name", "local-vllm", "--base-url", "http://127.0.0.1:9/v1",
            "--api-key", upstreamKey, "--models", "gpt-5.5,gpt-5.4-nano", "--wire", "chat");
        var listed = await CliAsync("channel", "list");

        var row = Assert.Single(listed.Stdout.Split('\n'), line => line.Contains("local-vllm", StringComparison.Ordinal));
        Assert.Matches(@"\blocal-vllm\s+chat\s", row);
        Assert.Contains("…WXYZ", row, StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:9/v1", row, StringComparison.Ordinal);
        Assert.Contains("gpt-5.5,gpt-5.4-nano", row, StringComparison.Ordinal);
        foreach (var run in new[] { added, listed })
        {
            Assert.DoesNotContain(upstreamKey, run.Stdout + run.Stderr, StringComparison.Ordinal);
            Assert.DoesNotContain(upstreamKey[..^4], run.Stdout + run.Stderr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ChannelAdd_WireNamesTheApisTheUpstreamServes_DefaultingToWhatOpenAiServes()
    {
        await CliAsync("channel", "add", "--name", "openai", "--base-url", "http://127.0.0.1:9/v1", "--api-key", "sk-a", "--models", "gpt-5.5");
        await CliAsync("channel", "add", "--name", "both", "--base-url", "http://127.0.0.1:9/v1", "--api-key", "sk-b", "--models", "gpt-5.5", "--wire", "chat,responses");
        var unknown = await ServerProcess.CliAsync(DataDirectory, "channel", "add", "--name", "bad", "--base-url", "http://127.0.0.1:9/v1",
            "--api-key", "sk-c", "--models", "gpt-5.5", "--wire", "responses,completions");
        var listed = await CliAsync("channel", "list");

        Assert.Matches(@"\bopenai\s+responses,chat\s", listed.Stdout);
        Assert.Matches(@"\bboth\s+responses,chat\s", listed.Stdout);
        Assert.NotEqual(0, unknown.ExitCode);
        Assert.Contains("\"completions\" is not an API TokenPool knows. Use responses, chat or messages", unknown.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("bad", listed.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyCreate_ThenList_ShowsThePrefixAndLastFourButNeverTheWholeKey()
    {
        await CliAsync("user", "add", "--email", Email, "--password", "a long password", "--credit", "5");

        var created = await CliAsync("key", "create", "--email", Email, "--name", "laptop");
        var key = created.Stdout.Trim();
        Assert.Matches("^sk-tp-[0-9A-Za-z]{49}$", key);
        var listed = await CliAsync("key", "list", "--email", Email);

        var row = Assert.Single(listed.Stdout.Split('\n'), line => line.Contains("laptop", StringComparison.Ordinal));
        Assert.Contains(key[..10] + "…" + key[^4..], row, StringComparison.Ordinal);
        Assert.Contains("active", row, StringComparison.Ordinal);
        Assert.DoesNotContain(key, listed.Stdout + listed.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(key[10..^4], listed.Stdout + listed.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(key, created.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenpoolDataVariable_SelectsTheStore_WhenNoDataFlagIsGiven()
    {
        var environment = new Dictionary<string, string> { ["TOKENPOOL_DATA"] = DataDirectory };

        var added = await ServerProcess.CliWithEnvironmentAsync(environment, "user", "add", "--email", Email, "--password", "a long password", "--credit", "3");
        Assert.True(added.ExitCode == 0, added.ToString());
        Assert.True(File.Exists(Path.Combine(DataDirectory, "tokenpool.db")), "No database in " + DataDirectory);

        var shownWithFlag = await CliAsync("user", "show", "--email", Email);
        using (var json = JsonDocument.Parse(shownWithFlag.Stdout))
        {
            Assert.Equal(3m, json.RootElement.GetProperty("balance_usd").GetDecimal());
        }

        var created = await CliAsync("key", "create", "--email", Email, "--name", "from-flag");
        var listedWithVariable = await ServerProcess.CliWithEnvironmentAsync(environment, "key", "list", "--email", Email);
        Assert.True(listedWithVariable.ExitCode == 0, listedWithVariable.ToString());
        Assert.Contains("from-flag", listedWithVariable.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(created.Stdout.Trim(), listedWithVariable.Stdout, StringComparison.Ordinal);

        var elsewhere = new Dictionary<string, string> { ["TOKENPOOL_DATA"] = Path.Combine(_root, "other") };
        var notThere = await ServerProcess.CliWithEnvironmentAsync(elsewhere, "user", "show", "--email", Email);
        Assert.True(notThere.ExitCode == 1, notThere.ToString());
        Assert.Contains($"No account has the email {Email}", notThere.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Simulate_AnswersAResponsesStreamThatEndsWithResponseCompleted()
    {
        var address = new Uri($"http://127.0.0.1:{ServerProcess.FreePort()}/");
        using var simulator = ServerProcess.Launch("simulate", "--urls", address.ToString().TrimEnd('/'));
        try
        {
            using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "sk-anything");
            await WaitUntilListeningAsync(client, simulator);

            using var response = await client.PostAsync("v1/responses", Api.Responses("say hello", stream: true));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            var (events, _, raw) = await Api.ReadStreamAsync(response);

            Assert.True(events.Count >= 2, raw);
            Assert.Equal("response.created", events[0].Type());
            Assert.Equal("response.completed", events[^1].Type());
            Assert.Equal("completed", events[^1].GetProperty("response").GetProperty("status").GetString());
        }
        finally
        {
            if (!simulator.HasExited)
            {
                simulator.Kill(entireProcessTree: true);
                await simulator.WaitForExitAsync();
            }
        }
    }

    [Fact]
    public async Task KeyCreatedWithRpm2_IsRefusedWith429AndRetryAfter_OnItsThirdRequestWithinAMinute()
    {
        await using var server = await ServerProcess.StartAsync(DataDirectory);
        await CliAsync("user", "add", "--email", Email, "--password", "a long password", "--credit", "5");
        var key = (await CliAsync("key", "create", "--email", Email, "--name", "limited", "--rpm", "2")).Stdout.Trim();
        using var client = Client(server, key);

        for (var i = 0; i < 2; i++)
        {
            using var ok = await client.PostAsync("v1/responses", Api.Responses());
            Assert.True(ok.StatusCode == HttpStatusCode.OK, await ok.Content.ReadAsStringAsync());
        }

        using var refused = await client.PostAsync("v1/responses", Api.Responses());
        await Api.AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, "rate_limit_exceeded", "2 requests per minute");
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.True(retryAfter is { TotalSeconds: >= 1 and <= 60 }, $"Retry-After: {refused.Headers.RetryAfter}");

        var listed = await CliAsync("key", "list", "--email", Email);
        Assert.Contains("rpm 2, tpm none, concurrency none", listed.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UserLimitsAndKeyLimits_ReachTheRunningServer_WithoutARestart()
    {
        await using var server = await ServerProcess.StartAsync(DataDirectory);
        await CliAsync("user", "add", "--email", Email, "--password", "a long password", "--credit", "5");
        var key = (await CliAsync("key", "create", "--email", Email, "--name", "changing")).Stdout.Trim();
        using var client = Client(server, key);
        using (var first = await client.PostAsync("v1/responses", Api.Responses()))
        {
            Assert.True(first.StatusCode == HttpStatusCode.OK, await first.Content.ReadAsStringAsync());
        }

        var accountLimited = await CliAsync("user", "limits", "--email", Email, "--rpm", "1");
        Assert.Contains("rpm 1, tpm none, concurrency none", accountLimited.Stdout, StringComparison.Ordinal);
        using (var shownAccount = JsonDocument.Parse((await CliAsync("user", "show", "--email", Email)).Stdout))
        {
            Assert.Equal(1, shownAccount.RootElement.GetProperty("requests_per_minute_limit").GetInt32());
            Assert.Equal(JsonValueKind.Null, shownAccount.RootElement.GetProperty("tokens_per_minute_limit").ValueKind);
        }

        var refused = await RequestUntilAsync(client, HttpStatusCode.TooManyRequests);
        await Api.AssertErrorAsync(refused, HttpStatusCode.TooManyRequests, "rate_limit_exceeded", "account", "1 request per minute");

        await CliAsync("user", "limits", "--email", Email, "--rpm", "none");
        (await RequestUntilAsync(client, HttpStatusCode.OK)).Dispose();

        var keyId = KeyId(await CliAsync("key", "list", "--email", Email), "changing");
        var keyLimited = await CliAsync("key", "limits", "--email", Email, "--id", keyId, "--rpm", "1");
        Assert.Contains("rpm 1, tpm none, concurrency none", keyLimited.Stdout, StringComparison.Ordinal);
        var keyRefused = await RequestUntilAsync(client, HttpStatusCode.TooManyRequests);
        await Api.AssertErrorAsync(keyRefused, HttpStatusCode.TooManyRequests, "rate_limit_exceeded", "API key", "1 request per minute");

        await CliAsync("key", "limits", "--email", Email, "--id", keyId, "--rpm", "none");
        (await RequestUntilAsync(client, HttpStatusCode.OK)).Dispose();
        var shown = await CliAsync("key", "limits", "--email", Email, "--id", keyId);
        Assert.Contains("rpm none, tpm none, concurrency none", shown.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-3")]
    [InlineData("lots")]
    public async Task LimitFlags_RefuseAnythingButAPositiveWholeNumberOrNone(string value)
    {
        await CliAsync("user", "add", "--email", Email, "--password", "a long password");

        var run = await ServerProcess.CliAsync(DataDirectory, "user", "limits", "--email", Email, "--rpm", value);

        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.Contains("--rpm", run.Stderr, StringComparison.Ordinal);
        var shown = await CliAsync("user", "limits", "--email", Email);
        Assert.Contains("rpm none", shown.Stdout, StringComparison.Ordinal);
    }

    private async Task<ClientRun> CliAsync(params string[] arguments)
    {
        var run = await ServerProcess.CliAsync(DataDirectory, arguments);
        Assert.True(run.ExitCode == 0, $"tokenpool {arguments[0]} {arguments[1]}: {run}");
        return run;
    }

    private static HttpClient Client(ServerProcess server, string key)
    {
        var client = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>Sends requests until one gets this status (a CLI change reaches the server within about a second), 15 s at most.</summary>
    private static async Task<HttpResponseMessage> RequestUntilAsync(HttpClient client, HttpStatusCode status)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var response = await client.PostAsync("v1/responses", Api.Responses());
            if (response.StatusCode == status)
            {
                return response;
            }

            var body = await response.Content.ReadAsStringAsync();
            response.Dispose();
            Assert.True(DateTime.UtcNow < deadline, $"No {(int)status} within 15 s; the last answer: {body}");
            await Task.Delay(250);
        }
    }

    private static string KeyId(ClientRun list, string name) =>
        Assert.Single(list.Stdout.Split('\n'), line => line.Contains(name, StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];

    private static async Task WaitUntilListeningAsync(HttpClient client, Process simulator)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(simulator.HasExited, "tokenpool simulate exited early.");
            try
            {
                using var models = await client.GetAsync("v1/models");
                return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(200);
        }

        Assert.Fail("tokenpool simulate did not listen within 60 s.");
    }
}
