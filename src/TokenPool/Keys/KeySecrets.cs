using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using TokenPool.Data;

namespace TokenPool.Keys;

/// <summary>
/// The deployment's secrets for keys, kept in the data directory beside (never inside) the database:
/// the HMAC secret used to look keys up, and the data-protection key ring used to encrypt API keys and
/// upstream keys. A copy of the database alone yields no usable key.
/// </summary>
internal sealed class KeySecrets
{
    private readonly byte[] _lookupSecret;

    // One keyed HMAC per thread, reset after each use: hashing a key on every request then costs no key set-up.
    private readonly ThreadLocal<IncrementalHash> _lookupHmac;
    private readonly IDataProtector _apiKeys;
    private readonly IDataProtector _upstreamKeys;

    public KeySecrets(IOptions<StoreOptions> store, IDataProtectionProvider dataProtection)
    {
        _lookupSecret = LoadOrCreateLookupSecret(SecretsDirectory(store.Value));
        _lookupHmac = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _lookupSecret));
        _apiKeys = dataProtection.CreateProtector("TokenPool.ApiKeys.v1");
        _upstreamKeys = dataProtection.CreateProtector("TokenPool.UpstreamKeys.v1");
    }

    public static string SecretsDirectory(StoreOptions store) => store.FullSecretsDirectory;

    /// <summary>The lookup hash stored for a key: HMAC-SHA256 under the deployment's secret, hex.</summary>
    public string LookupHash(ReadOnlySpan<char> key)
    {
        Span<byte> hash = stackalloc byte[32];
        ComputeHash(key, hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>The first 16 bytes of the lookup hash, as the in-memory cache's key (no allocation).</summary>
    public UInt128 CacheKey(ReadOnlySpan<char> key)
    {
        Span<byte> hash = stackalloc byte[32];
        ComputeHash(key, hash);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(hash);
    }

    public static UInt128 CacheKeyFromLookupHash(string lookupHash)
    {
        Span<byte> hash = stackalloc byte[32];
        Convert.FromHexString(lookupHash, hash, out _, out _);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(hash);
    }

    public string ProtectApiKey(string key) => _apiKeys.Protect(key);

    public string UnprotectApiKey(string protectedKey) => _apiKeys.Unprotect(protectedKey);

    public string ProtectUpstreamKey(string key) => _upstreamKeys.Protect(key);

    public string UnprotectUpstreamKey(string protectedKey) => _upstreamKeys.Unprotect(protectedKey);

    private void ComputeHash(ReadOnlySpan<char> key, Span<byte> destination)
    {
        Span<byte> utf8 = key.Length <= 256 ? stackalloc byte[key.Length * 3] : new byte[key.Length * 3];
        var length = Encoding.UTF8.GetBytes(key, utf8);
        var hmac = _lookupHmac.Value!;
        hmac.AppendData(utf8[..length]);
        hmac.GetHashAndReset(destination);
    }

    private static byte[] LoadOrCreateLookupSecret(string directory)
    {
        var path = Path.Combine(directory, "key-lookup.secret");
        if (File.Exists(path))
        {
            return Convert.FromBase64String(File.ReadAllText(path).Trim());
        }

        Directory.CreateDirectory(directory);
        var secret = RandomNumberGenerator.GetBytes(32);
        var temp = path + ".tmp";
        File.WriteAllText(temp, Convert.ToBase64String(secret));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        try
        {
            File.Move(temp, path, overwrite: false);
        }
        catch (IOException)
        {
            // Another process (the CLI beside a running server) created it first: use theirs.
            File.Delete(temp);
            return Convert.FromBase64String(File.ReadAllText(path).Trim());
        }

        return secret;
    }
}
