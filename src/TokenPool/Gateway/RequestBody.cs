using System.Buffers;
using Microsoft.AspNetCore.Http.Features;

namespace TokenPool.Gateway;

/// <summary>
/// A request body read once into a pooled buffer. It stays in memory for the whole request: a failover
/// resends it, and an interrupted stream's input is counted from it.
/// </summary>
internal sealed class RequestBody : IDisposable
{
    private byte[] _buffer;
    private int _length;

    private RequestBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        _length = length;
    }

    public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, _length);

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, _length);

    public int Length => _length;

    /// <summary>Reads the body; returns null and an error when it is over <paramref name="limit"/> bytes.</summary>
    public static async ValueTask<(RequestBody? Body, ApiError? Error)> ReadAsync(HttpContext context, int limit, CancellationToken cancellationToken)
    {
        var request = context.Request;
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = null;
        }

        if (request.ContentLength > limit)
        {
            return (null, GatewayErrors.BodyTooLarge(limit));
        }

        if (request.Headers.ContentEncoding is { Count: > 0 } encoding && !string.Equals(encoding[0], "identity", StringComparison.OrdinalIgnoreCase))
        {
            return (null, new ApiError(415, ApiError.InvalidRequest, "unsupported_content_encoding",
                $"Request bodies compressed with \"{encoding[0]}\" are not accepted. Send the JSON body uncompressed."));
        }

        // Read at most one byte past the limit: enough to tell that the body is too large.
        var cap = limit + 1;
        var initial = request.ContentLength is > 0 and var length ? (int)Math.Min(length, cap) : 16 * 1024;
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initial, 256));
        var total = 0;
        try
        {
            while (true)
            {
                if (total == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, cap));
                    buffer.AsSpan(0, total).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await request.Body.ReadAsync(buffer.AsMemory(total, Math.Min(buffer.Length, cap) - total), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                total += read;
                if (total > limit)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return (null, GatewayErrors.BodyTooLarge(limit));
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }

        return (new RequestBody(buffer, total), null);
    }

    /// <summary>Replaces the body (after a rewrite); the old buffer goes back to the pool.</summary>
    public void Replace(ReadOnlySpan<byte> content)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(content.Length, 256));
        content.CopyTo(buffer);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = buffer;
        _length = content.Length;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
