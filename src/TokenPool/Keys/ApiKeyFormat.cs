using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;

namespace TokenPool.Keys;

/// <summary>
/// The shape of a TokenPool API key: <c>sk-tp-</c>, 43 random base62 characters (256 bits from the
/// cryptographic RNG), then a 6-character CRC-32 checksum of everything before it. The checksum lets
/// TokenPool tell a truncated or mistyped key from an unknown one without touching the database.
/// </summary>
internal static class ApiKeyFormat
{
    public const string Prefix = "sk-tp-";
    public const int BodyLength = 43;
    public const int ChecksumLength = 6;
    public const int Length = 55;

    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string Generate()
    {
        var body = RandomNumberGenerator.GetString(Alphabet, BodyLength);
        Span<char> key = stackalloc char[Length];
        Prefix.CopyTo(key);
        body.CopyTo(key[Prefix.Length..]);
        WriteChecksum(key[..(Prefix.Length + BodyLength)], key[(Prefix.Length + BodyLength)..]);
        return new string(key);
    }

    public static ApiKeyShape Check(ReadOnlySpan<char> key)
    {
        if (!key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return key.StartsWith("sk-", StringComparison.Ordinal) ? ApiKeyShape.ForeignKey : ApiKeyShape.NotAKey;
        }

        foreach (var c in key[Prefix.Length..])
        {
            if (!IsBase62(c))
            {
                return ApiKeyShape.BadCharacters;
            }
        }

        if (key.Length < Length)
        {
            return ApiKeyShape.TooShort;
        }

        if (key.Length > Length)
        {
            return ApiKeyShape.TooLong;
        }

        Span<char> expected = stackalloc char[ChecksumLength];
        WriteChecksum(key[..(Prefix.Length + BodyLength)], expected);
        return key[(Prefix.Length + BodyLength)..].SequenceEqual(expected) ? ApiKeyShape.Valid : ApiKeyShape.ChecksumMismatch;
    }

    /// <summary>What may be shown of a key: <c>sk-tp-Ab3d…wxyz</c>.</summary>
    public static string Mask(string displayPrefix, string last4) => $"{displayPrefix}…{last4}";

    public static string DisplayPrefix(string key) => key[..(Prefix.Length + 4)];

    public static string Last4(string key) => key[^4..];

    private static bool IsBase62(char c) => c is (>= '0' and <= '9') or (>= 'A' and <= 'Z') or (>= 'a' and <= 'z');

    private static void WriteChecksum(ReadOnlySpan<char> keyWithoutChecksum, Span<char> destination)
    {
        Span<byte> ascii = stackalloc byte[keyWithoutChecksum.Length];
        Encoding.ASCII.GetBytes(keyWithoutChecksum, ascii);
        Span<byte> crc = stackalloc byte[4];
        Crc32.Hash(ascii, crc);
        var value = BinaryPrimitives.ReadUInt32LittleEndian(crc);
        for (var i = ChecksumLength - 1; i >= 0; i--)
        {
            destination[i] = Alphabet[(int)(value % 62)];
            value /= 62;
        }
    }
}

internal enum ApiKeyShape
{
    Valid,

    /// <summary>Not a key at all (no <c>sk-</c> prefix): a password, a URL, a placeholder.</summary>
    NotAKey,

    /// <summary>An <c>sk-</c> key that is not TokenPool's, such as an OpenAI key.</summary>
    ForeignKey,

    BadCharacters,
    TooShort,
    TooLong,
    ChecksumMismatch,
}
