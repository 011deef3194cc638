using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation;

/// <summary>
/// Carries reasoning across turns with no state on the server. What an upstream needs back on the next turn (a
/// Chat upstream's <c>reasoning_content</c>, an Anthropic thinking block's text and <c>signature</c>, a Responses
/// upstream's <c>encrypted_content</c>) is sealed into the reasoning item's <c>encrypted_content</c> (Responses
/// clients) or the thinking block's <c>signature</c> (Messages clients), which the clients send back verbatim.
/// <list type="number">
/// <item>The payload is a small JSON object: origin, exact text, opaque blob.</item>
/// <item>It is sealed with ASP.NET Core Data Protection under its own purpose string: authenticated encryption with
/// the deployment's key ring (kept beside the database), so a client can neither read nor forge it, and every
/// TokenPool process of the deployment can open it.</item>
/// <item>The result is base64url after the prefix <see cref="Prefix"/>, so foreign blobs (OpenAI's, Anthropic's,
/// another deployment's) are told apart without decrypting.</item>
/// <item>A foreign or tampered seal opens to nothing: the reasoning is dropped from the upstream request, never an error.</item>
/// </list>
/// </summary>
internal sealed class ReasoningSeal(IDataProtectionProvider provider)
{
    public const string Purpose = "TokenPool.Translation.ReasoningSeal.v1";

    public const string Prefix = "tpr1_";

    private readonly IDataProtector _protector = provider.CreateProtector(Purpose);

    /// <summary>Whether a client-sent blob claims to be one of TokenPool's seals (a pass-through to a native upstream should drop such items).</summary>
    public static bool LooksSealed(ReadOnlySpan<char> value) => value.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The same test on a raw (UTF-8) <c>encrypted_content</c> or <c>signature</c> value, for a pass-through that reads bytes.</summary>
    public static bool LooksSealed(ReadOnlySpan<byte> value) => value.StartsWith("tpr1_"u8);

    /// <summary>Seals reasoning whose text and blob are escaped JSON string content.</summary>
    public string Seal(ReasoningOrigin origin, ReadOnlySpan<byte> escapedText, ReadOnlySpan<byte> escapedBlob)
    {
        using var payload = new ByteBuffer();
        payload.Append("{\"o\":"u8);
        payload.Append((byte)('0' + (int)origin));
        payload.Append(",\"t\":\""u8);
        payload.Append(escapedText);
        payload.Append("\",\"b\":\""u8);
        payload.Append(escapedBlob);
        payload.Append("\"}"u8);
        var sealedBytes = _protector.Protect(payload.Span.ToArray());
        return Prefix + Base64Url.EncodeToString(sealedBytes);
    }

    /// <summary>Opens a seal; null when it is not TokenPool's, was made by another deployment, or was changed.</summary>
    public ReasoningCarry? Open(string? value)
    {
        if (value is null || !LooksSealed(value))
        {
            return null;
        }

        try
        {
            var bytes = Base64Url.DecodeFromChars(value.AsSpan(Prefix.Length));
            var plain = _protector.Unprotect(bytes);
            using var document = JsonDocument.Parse(plain);
            var root = document.RootElement;
            var origin = (ReasoningOrigin)root.GetProperty("o").GetInt32();
            if (origin is < ReasoningOrigin.ChatReasoningContent or > ReasoningOrigin.Responses)
            {
                return null;
            }

            var blob = root.GetProperty("b").GetString();
            return new ReasoningCarry(origin, root.GetProperty("t").GetString() ?? "", string.IsNullOrEmpty(blob) ? null : blob);
        }
        catch (Exception ex) when (ex is CryptographicException or FormatException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return null;
        }
    }
}
