using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using TokenPool.Simulator;

namespace TokenPool.IntegrationTests.Simulation;

/// <summary>Simulated upstreams started once per test class, one per flavour, and raw HTTP helpers to talk to them.</summary>
public sealed class SimulatorFixture : IAsyncLifetime
{
    public const string Key = "sk-sim-test-0123456789abcdef";

    private readonly Dictionary<SimulatorFlavor, SimulatorHost> _hosts = [];

    internal SimulatorHost this[SimulatorFlavor flavor] => _hosts[flavor];

    public async Task InitializeAsync()
    {
        foreach (var flavor in Enum.GetValues<SimulatorFlavor>())
        {
            _hosts[flavor] = await SimulatorHost.StartAsync(new SimulatorOptions
            {
                ApiKey = Key,
                Flavor = flavor,
                Models = ["gpt-5.5", "qwen3-coder", "deepseek-chat", "claude-sonnet-4-5"],
            });
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values)
        {
            await host.DisposeAsync();
        }
    }

    /// <summary>A client for one simulated upstream, sending its key the way the flavour expects.</summary>
    internal HttpClient Client(SimulatorFlavor flavor, string? key = Key)
    {
        var client = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = System.Net.DecompressionMethods.None })
        {
            BaseAddress = new Uri(_hosts[flavor].Address + "/"),
            Timeout = TimeSpan.FromSeconds(30),
        };
        if (key is not null && flavor == SimulatorFlavor.Anthropic)
        {
            client.DefaultRequestHeaders.Add("x-api-key", key);
            client.DefaultRequestHeaders.Add("anthropic-version", "2023-06-01");
        }
        else if (key is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return client;
    }
}

/// <summary>Request bodies and stream readers for the simulator's wire tests.</summary>
internal static class Sim
{
    public const string BashTool = """{"type":"function","function":{"name":"bash","description":"Runs a command","parameters":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}}}""";

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>A Chat request that asks for a command to be run, with a bash tool, streamed.</summary>
    public static StringContent ChatToolCall(string model = "qwen3-coder", string extra = "") =>
        Json($$"""{"model":"{{model}}","messages":[{"role":"user","content":"run `ls -la`"}],"tools":[{{BashTool}}],"stream":true{{extra}}}""");

    public static HttpRequestMessage Post(string path, string json, string? sim = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(json) };
        if (sim is not null)
        {
            request.Headers.Add("x-sim", sim);
        }

        return request;
    }

    /// <summary>The <c>data:</c> payloads of an SSE body (without <c>[DONE]</c>), whether <c>[DONE]</c> came, and the raw text.</summary>
    public static async Task<(List<JsonElement> Data, bool Done, string Raw)> ReadSseAsync(HttpResponseMessage response)
    {
        var raw = await response.Content.ReadAsStringAsync();
        var data = raw.Split('\n')
            .Where(line => line.StartsWith("data: ", StringComparison.Ordinal) && line != "data: [DONE]")
            .Select(line => JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone())
            .ToList();
        return (data, raw.Contains("data: [DONE]", StringComparison.Ordinal), raw);
    }

    /// <summary>The <c>event:</c> names of an SSE body, in order.</summary>
    public static List<string> EventNames(string raw) =>
        raw.Split('\n').Where(l => l.StartsWith("event: ", StringComparison.Ordinal)).Select(l => l["event: ".Length..].Trim()).ToList();

    /// <summary>The choice's delta of a chat chunk, or null for the usage chunk.</summary>
    public static JsonElement? Delta(JsonElement chunk) =>
        chunk.GetProperty("choices").GetArrayLength() == 0 ? null : chunk.GetProperty("choices")[0].GetProperty("delta");

    public static bool Has(this JsonElement element, string property) => element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out _);
}
