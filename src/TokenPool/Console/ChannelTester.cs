using System.Diagnostics;
using System.Net.Http.Headers;
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
        var dialect = channel.Wire.Apis.Select(TokenPool.Gateway.Dialects.ApiTable.Find).FirstOrDefault(d => d is not null) ?? TokenPool.Gateway.Dialects.ApiTable.Dialects[0];
        using var request = new HttpRequestMessage(HttpMethod.Post, baseUrl + dialect.Path)
        {
            Content = new ByteArrayContent(dialect.ProbeBody(upstreamModel, 16)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
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

    private static string Trim(string body) => body.Length > 400 ? body[..400] + "…" : body;

    [LoggerMessage(EventId = 7102, Level = LogLevel.Information, Message = "Console test of channel {ChannelId}: status {Status} in {LatencyMs} ms")]
    private static partial void LogTested(ILogger logger, long channelId, int status, long latencyMs);
}
