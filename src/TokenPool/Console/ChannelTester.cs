using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using TokenPool.Keys;
using TokenPool.Upstreams;

namespace TokenPool.WebConsole;

/// <summary>The admin's "Test channel" button: one small request straight to the upstream with the channel's first enabled key.</summary>
internal sealed partial class ChannelTester(ChannelService channels, KeySecrets secrets, ILogger<ChannelTester> logger) : IDisposable
{
    private readonly HttpClient _client = new(new SocketsHttpHandler { UseCookies = false, ConnectTimeout = TimeSpan.FromSeconds(10) })
    {
        Timeout = TimeSpan.FromSeconds(60),
    };

    public async Task<TestOutcome> TestAsync(long channelId, CancellationToken cancellationToken)
    {
        var channel = await channels.FindAsync(channelId.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken)
            ?? throw new ChannelActionException("No such channel.");
        var key = channel.Keys.FirstOrDefault(k => k.IsEnabled);
        if (key is null)
        {
            return new TestOutcome(false, 0, null, TimeSpan.Zero, "The channel has no enabled upstream key.", null);
        }

        var model = channel.Models.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).First();
        var upstreamModel = UpstreamPool.SplitList(channel.ModelAliases)
            .Select(pair => pair.Split('=', 2, StringSplitOptions.TrimEntries))
            .FirstOrDefault(pair => pair.Length == 2 && pair[0] == model)?[1] ?? model;
        var baseUrl = channel.BaseUrl.TrimEnd('/') + "/";
        using var request = channel.Wire == WireApi.Chat
            ? new HttpRequestMessage(HttpMethod.Post, baseUrl + "chat/completions")
            {
                Content = Json(new { model = upstreamModel, messages = new[] { new { role = "user", content = "Reply with one short greeting." } }, max_tokens = 16 }),
            }
            : new HttpRequestMessage(HttpMethod.Post, baseUrl + "responses")
            {
                Content = Json(new { model = upstreamModel, input = "Reply with one short greeting.", max_output_tokens = 16, store = false }),
            };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secrets.UnprotectUpstreamKey(key.ProtectedKey));
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await _client.SendAsync(request, cancellationToken);
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            var latency = Stopwatch.GetElapsedTime(started);
            var status = (int)response.StatusCode;
            LogTested(logger, channelId, status, (long)latency.TotalMilliseconds);
            return response.IsSuccessStatusCode
                ? new TestOutcome(true, status, upstreamModel, latency, $"The upstream answered with {upstreamModel} (key …{key.Last4}).", null)
                : new TestOutcome(false, status, null, latency, $"The upstream refused (key …{key.Last4}): {Trim(body)}", null);
        }
        catch (HttpRequestException error)
        {
            return new TestOutcome(false, 0, null, Stopwatch.GetElapsedTime(started), $"Could not reach {channel.BaseUrl}: {error.Message}", null);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new TestOutcome(false, 0, null, Stopwatch.GetElapsedTime(started), "The upstream did not answer within 60 seconds.", null);
        }
    }

    public void Dispose() => _client.Dispose();

    private static StringContent Json<T>(T value) => new(JsonSerializer.Serialize(value), Encoding.UTF8, "application/json");

    private static string Trim(string body) => body.Length > 400 ? body[..400] + "…" : body;

    [LoggerMessage(EventId = 7102, Level = LogLevel.Information, Message = "Console test of channel {ChannelId}: status {Status} in {LatencyMs} ms")]
    private static partial void LogTested(ILogger logger, long channelId, int status, long latencyMs);
}
