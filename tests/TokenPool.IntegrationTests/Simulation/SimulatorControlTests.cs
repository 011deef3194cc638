using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using TokenPool.IntegrationTests.Infrastructure;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Simulation;

/// <summary>
/// Issue 15 item 8: the simulator's request log holds users' prompts and the headers TokenPool forwards,
/// so it is served only to the operator of <c>tokenpool simulate</c> who set a control token, never
/// inside <c>serve</c> (tests read it in process). And every answer says plainly it was simulated.
/// </summary>
public sealed class SimulatorControlTests
{
    private const string Body = """{"model":"gpt-5.5","input":"a private prompt"}""";

    [Fact]
    public async Task WithoutAControlToken_TheRequestLogAndFaultControlsAreNotServed()
    {
        await using var host = await SimulatorHost.StartAsync(new SimulatorOptions());
        using var client = new HttpClient { BaseAddress = new Uri(host.Address + "/") };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "any-token");
        (await client.PostAsync("v1/responses", Sim.Json(Body))).Dispose();

        using var log = await client.GetAsync("_sim/requests");
        using var faults = await client.PutAsync("_sim/faults", Sim.Json("""{"FailRate":1}"""));

        Assert.Equal(HttpStatusCode.NotFound, log.StatusCode);
        Assert.DoesNotContain("private prompt", await log.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, faults.StatusCode);
        Assert.Single(host.Requests);
    }

    [Fact]
    public async Task WithAControlToken_OnlyThatTokenReadsAndClearsTheLog()
    {
        await using var host = await SimulatorHost.StartAsync(new SimulatorOptions { ControlToken = "operator-secret-1" });
        using var client = new HttpClient { BaseAddress = new Uri(host.Address + "/") };
        using (var request = new HttpRequestMessage(HttpMethod.Post, "v1/responses") { Content = Sim.Json(Body) })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-upstream");
            (await client.SendAsync(request)).Dispose();
        }

        using var anonymous = await client.GetAsync("_sim/requests");
        using var wrong = await Send(client, HttpMethod.Get, "operator-secret-2");
        using var right = await Send(client, HttpMethod.Get, "operator-secret-1");
        using var cleared = await Send(client, HttpMethod.Delete, "operator-secret-1");

        Assert.Equal(HttpStatusCode.NotFound, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, right.StatusCode);
        Assert.Contains("private prompt", await right.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NoContent, cleared.StatusCode);
        Assert.Empty(host.Requests);
    }

    [Fact]
    public async Task ServesBuiltInSimulator_ServesNoRequestLog_AndLabelsEveryApisAnswer()
    {
        await using var gateway = await TestGateway.StartAsync(o => o.BuiltInSimulator = true);
        var builtIn = gateway.BuiltInUpstream!;
        var key = await gateway.CreateKeyAsync();
        using var client = gateway.ClientWithKey(key);
        using var direct = new HttpClient { BaseAddress = new Uri(builtIn.Address + "/") };
        direct.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "simulated");

        using var through = await client.PostAsync("v1/responses", Sim.Json(Body));
        using var log = await direct.GetAsync("_sim/requests");
        using var messages = await direct.PostAsync("v1/messages", Sim.Json("""{"model":"gpt-5.5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}"""));
        using var chat = await direct.PostAsync("v1/chat/completions", Sim.Json("""{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}]}"""));

        Assert.Equal(HttpStatusCode.OK, through.StatusCode);
        Assert.Equal("simulated", through.Headers.GetValues("x-tokenpool-upstream").Single());
        Assert.Equal(HttpStatusCode.NotFound, log.StatusCode);
        Assert.Contains("private prompt", builtIn.Requests[0].Body, StringComparison.Ordinal);
        foreach (var answer in new[] { messages, chat })
        {
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            Assert.Equal("simulated", answer.Headers.GetValues("x-tokenpool-upstream").Single());
            Assert.Contains("simulated upstream", await answer.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TokenpoolSimulate_TakesAFlavourAndAControlToken()
    {
        var port = ServerProcess.FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { ServerProcess.Program, "simulate", "--urls", $"http://127.0.0.1:{port}", "--flavor", "deepseek", "--control-token", "op-token-7" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "op-token-7");
            HttpResponseMessage? chat = null;
            for (var attempt = 0; attempt < 100 && chat is null; attempt++)
            {
                try
                {
                    chat = await client.PostAsync("v1/chat/completions", Sim.Json("""{"model":"deepseek-chat","messages":[{"role":"user","content":"hi"}]}"""));
                }
                catch (HttpRequestException)
                {
                    await Task.Delay(200);
                }
            }

            Assert.NotNull(chat);
            Assert.Equal("deepseek", chat.Headers.GetValues("x-tokenpool-simulator").Single());
            Assert.Contains("prompt_cache_hit_tokens", await chat.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            using var log = await client.GetAsync("_sim/requests");
            Assert.Equal(HttpStatusCode.OK, log.StatusCode);
            using var responses = await client.PostAsync("v1/responses", Sim.Json(Body));
            Assert.Equal(HttpStatusCode.NotFound, responses.StatusCode);
            chat.Dispose();
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static Task<HttpResponseMessage> Send(HttpClient client, HttpMethod method, string token)
    {
        var request = new HttpRequestMessage(method, "_sim/requests");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client.SendAsync(request);
    }
}
