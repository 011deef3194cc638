using System.Collections.Frozen;
using System.Net.Http.Headers;

namespace TokenPool.Gateway.Relay;

/// <summary>
/// Which of the client's request headers go upstream. Everything the upstream may use (session ids, Codex's turn
/// metadata, user agent, betas) goes on as it came; never the client's credentials (its TokenPool key, in any of
/// the headers clients put keys in), cookies, hop-by-hop headers, forwarding headers, body framing (TokenPool
/// sends its own body), the client's accepted encodings (TokenPool asks for identity), or the organisation and
/// project of an OpenAI account that is not the channel's. When a bridge carries the request to another API, the
/// client API's own headers (<c>anthropic-*</c>) stay behind too.
/// </summary>
internal static class RequestHeaderPolicy
{
    private static readonly FrozenSet<string> NeverForwarded = new[]
    {
        "Host", "Authorization", "Connection", "Keep-Alive", "Proxy-Authorization", "Proxy-Authenticate", "Proxy-Connection",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Content-Type", "Content-Encoding", "Accept-Encoding",
        "Cookie", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-IP", "Expect",
        "OpenAI-Organization", "OpenAI-Project", "api-key", "x-api-key",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>Copies the client's headers that may go upstream onto <paramref name="upstream"/>.</summary>
    public static void Copy(IHeaderDictionary client, HttpRequestHeaders upstream, bool bridged)
    {
        foreach (var (name, values) in client)
        {
            if (NeverForwarded.Contains(name) || (bridged && name.StartsWith("anthropic-", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            if (values.Count == 1)
            {
                upstream.TryAddWithoutValidation(name, values[0]);
            }
            else
            {
                upstream.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        upstream.TryAddWithoutValidation("Accept-Encoding", "identity");
    }
}
