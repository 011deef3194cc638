using System.Buffers;

namespace TokenPool.Gateway.Translation.Pivot;

/// <summary>
/// A growable byte buffer rented from the shared pool on first use and returned on <see cref="Dispose"/>:
/// the per-item text, arguments and finished items a stream translator keeps until the item is done.
/// </summary>
internal sealed class ByteBuffer : IBufferWriter<byte>, IDisposable
{
    private byte[] _array = [];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Span => _array.AsSpan(0, Length);

    public bool IsEmpty => Length == 0;

    public void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return;
        }

        EnsureFree(bytes.Length);
        bytes.CopyTo(_array.AsSpan(Length));
        Length += bytes.Length;
    }

    public void Append(byte value)
    {
        EnsureFree(1);
        _array[Length++] = value;
    }

    public void Clear() => Length = 0;

    /// <summary>Forgets the bytes after the first <paramref name="length"/>.</summary>
    public void Truncate(int length) => Length = Math.Min(Length, length);

    /// <summary>Empties the buffer and gives its array back to the pool.</summary>
    public void Dispose()
    {
        Length = 0;
        if (_array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_array);
            _array = [];
        }
    }

    public void Advance(int count) => Length += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureFree(Math.Max(sizeHint, 256));
        return _array.AsMemory(Length);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureFree(Math.Max(sizeHint, 256));
        return _array.AsSpan(Length);
    }

    private void EnsureFree(int count)
    {
        if (Length + count <= _array.Length)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(Length + count, Math.Max(512, _array.Length * 2)));
        _array.AsSpan(0, Length).CopyTo(larger);
        if (_array.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_array);
        }

        _array = larger;
    }
}
