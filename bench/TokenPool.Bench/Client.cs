using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;

namespace TokenPool.Bench;

/// <summary>A target the load goes to: the upstream directly or a gateway in front of it.</summary>
internal sealed record Target(string Name, string Url, string? Key, Service? Process);

/// <summary>The harness's own load generator for latency, paced streams and open streams: one pooled client per target.</summary>
internal sealed class Client : IDisposable
{
    private static readonly byte[] Completed = "\"type\":\"response.completed\""u8.ToArray();
    private readonly HttpClient _http;
    private readonly Target _target;

    public Client(Target target)
    {
        _target = target;
        _http = new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(10),
            MaxConnectionsPerServer = int.MaxValue,
            ActivityHeadersPropagator = null,
        })
        {
            Timeout = TimeSpan.FromMinutes(5),
        };
    }

    public Target Target => _target;

    /// <summary>One streamed request read to its end. Returns the elapsed milliseconds, or NaN when it failed.</summary>
    public async Task<double> TimeOneAsync(byte[] body, byte[] buffer, CancellationToken cancellationToken, string? mode = null)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            using var request = NewRequest(body, mode);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var length = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
            {
                length += read;
                if (length == buffer.Length)
                {
                    return double.NaN;
                }
            }

            var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            return response.StatusCode == HttpStatusCode.OK && buffer.AsSpan(0, length).IndexOf(Completed) >= 0 ? elapsed : double.NaN;
        }
        catch (HttpRequestException)
        {
            return double.NaN;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>
    /// One paced stream: milliseconds from sending to each event's arrival (an event is counted when the read
    /// that completes its blank line returns). Empty when it failed.
    /// </summary>
    public async Task<List<double>> EventTimesAsync(byte[] body, string mode, Action? onFirstEvent, CancellationToken cancellationToken)
    {
        var times = new List<double>(70);
        var buffer = new byte[16 * 1024];
        var start = Stopwatch.GetTimestamp();
        try
        {
            using var request = NewRequest(body, mode);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return [];
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
            var previousNewline = false;
            var sawCompleted = false;
            var tail = new List<byte>();
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                var now = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                for (var i = 0; i < read; i++)
                {
                    var isNewline = buffer[i] == (byte)'\n';
                    if (isNewline && previousNewline)
                    {
                        times.Add(now);
                        if (times.Count == 1)
                        {
                            onFirstEvent?.Invoke();
                        }
                    }

                    previousNewline = isNewline;
                }

                tail.AddRange(buffer.AsSpan(0, read));
                if (tail.Count > 4096)
                {
                    tail.RemoveRange(0, tail.Count - 4096);
                }
            }

            sawCompleted = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(tail).IndexOf(Completed) >= 0;
            return sawCompleted ? times : [];
        }
        catch (HttpRequestException)
        {
            return [];
        }
        catch (IOException)
        {
            return [];
        }
    }

    public void Dispose() => _http.Dispose();

    private HttpRequestMessage NewRequest(byte[] body, string? mode)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _target.Url + "/v1/responses")
        {
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (_target.Key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _target.Key);
        }

        if (mode is not null)
        {
            request.Headers.TryAddWithoutValidation(Canned.ModeHeader, mode);
        }

        return request;
    }
}
