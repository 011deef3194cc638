using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using TokenPool.Hosting;

namespace TokenPool.WebConsole;

/// <summary>What a test request through the API returned, as the console shows it.</summary>
internal sealed record TestOutcome(bool Success, int Status, string? Model, TimeSpan Latency, string Summary, string? ErrorCode);

/// <summary>
/// The console's "Test" button: sends one small real request through this server's own API over
/// loopback with the key, exactly as a client would, and reports what a client would see.
/// </summary>
internal sealed partial class KeyTester(IServer server, IOptions<HostsOptions> hosts, ILogger<KeyTester> logger) : IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        UseProxy = false,
        UseCookies = false,
        AllowAutoRedirect = false,
        ConnectTimeout = TimeSpan.FromSeconds(5),
        SslOptions = { RemoteCertificateValidationCallback = (_, _, _, _) => true },
    })
    {
        Timeout = TimeSpan.FromSeconds(60),
    };

    public async Task<TestOutcome> TestAsync(long keyId, string key, string model, CancellationToken cancellationToken)
    {
        var baseUri = LoopbackAddress();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUri, "v1/responses"))
        {
            Content = new StringContent(
                JsonSerializer.Serialize(new { model, input = "Reply with one short greeting.", max_output_tokens = 32, store = false }),
                Encoding.UTF8,
                "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        request.Headers.UserAgent.ParseAdd("TokenPool-Console-Test/1.0");
        if (hosts.Value.ApiHosts is [var apiHost, ..])
        {
            request.Headers.Host = apiHost;
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await _client.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var latency = Stopwatch.GetElapsedTime(started);
            var status = (int)response.StatusCode;
            LogTested(logger, keyId, status, (long)latency.TotalMilliseconds);
            return Interpret(status, body, model, latency);
        }
        catch (HttpRequestException error)
        {
            return new TestOutcome(false, 0, null, Stopwatch.GetElapsedTime(started), $"Could not reach TokenPool's API on this server: {error.Message}", null);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new TestOutcome(false, 0, null, Stopwatch.GetElapsedTime(started), "The test request timed out after 60 seconds.", null);
        }
    }

    public void Dispose() => _client.Dispose();

    private static TestOutcome Interpret(int status, string body, string model, TimeSpan latency)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            if (status is >= 200 and < 300)
            {
                var answered = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : model;
                return new TestOutcome(true, status, answered, latency, $"The key works: {answered} answered.", null);
            }

            if (root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
            {
                var message = error.TryGetProperty("message", out var msg) ? msg.GetString() : null;
                var code = error.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                return new TestOutcome(false, status, null, latency, message ?? body, code);
            }
        }
        catch (JsonException)
        {
            // Not JSON: shown as it came.
        }

        return new TestOutcome(status is >= 200 and < 300, status, null, latency, body.Length > 500 ? body[..500] : body, null);
    }

    private Uri LoopbackAddress()
    {
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        var chosen = addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
            ?? addresses.FirstOrDefault()
            ?? "http://127.0.0.1:8080";
        var uri = new UriBuilder(chosen.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal));
        if (uri.Host is "0.0.0.0" or "[::]" or "::" or "localhost")
        {
            uri.Host = "127.0.0.1";
        }

        uri.Path = "/";
        return uri.Uri;
    }

    [LoggerMessage(EventId = 7101, Level = LogLevel.Information, Message = "Console test of key {KeyId}: status {Status} in {LatencyMs} ms")]
    private static partial void LogTested(ILogger logger, long keyId, int status, long latencyMs);
}
