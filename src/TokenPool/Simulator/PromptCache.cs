using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace TokenPool.Simulator;

/// <summary>
/// How much of a prompt the simulated upstream reports as cached, as the real providers decide it, so
/// that a client's second turn (which repeats the first turn's prompt and adds to it) reports cached
/// tokens and a first turn does not. Per upstream key and model, like a real account's cache:
/// <list type="bullet">
/// <item>OpenAI: the longest prefix seen before, counted in whole prompt segments (tools, system, each item), if it is at
/// least 1,024 tokens, rounded down to 128-token blocks.</item>
/// <item>DeepSeek: the same in 64-token units from 64 tokens on (reported as <c>prompt_cache_hit_tokens</c>).</item>
/// <item>Anthropic: only at <c>cache_control</c> breakpoints: the longest breakpoint prefix written before is read, the
/// rest up to the last breakpoint is written (5-minute or 1-hour, from the breakpoint's <c>ttl</c>), each from 1,024 tokens on.</item>
/// <item>vLLM, SGLang and Ollama report no cache by default (vLLM and SGLang only with a flag), so nothing.</item>
/// </list>
/// </summary>
internal sealed class PromptCache
{
    private const int MaxEntries = 200_000;
    private readonly ConcurrentDictionary<string, long> _seen = new(StringComparer.Ordinal);

    /// <summary>Cached, 5-minute-written and 1-hour-written tokens for this prompt; remembers its prefixes.</summary>
    public (long Cached, long Write5m, long Write1h) Lookup(string fingerprint, Conversation conversation, SimulatorFlavor flavor, long storedPrefixTokens)
    {
        if (_seen.Count > MaxEntries)
        {
            _seen.Clear();
        }

        var boundaries = Boundaries(fingerprint, conversation);
        if (conversation.Api == SimulatedApi.Messages)
        {
            return Breakpoints(boundaries, conversation);
        }

        var (minimum, block) = flavor switch
        {
            SimulatorFlavor.DeepSeek => (64L, 64L),
            SimulatorFlavor.Vllm or SimulatorFlavor.SgLang or SimulatorFlavor.Ollama => (long.MaxValue, 1L),
            _ => (1024L, 128L),
        };
        var matched = storedPrefixTokens;
        foreach (var (hash, tokens, _) in boundaries)
        {
            if (_seen.ContainsKey(hash))
            {
                matched = Math.Max(matched, storedPrefixTokens + tokens);
            }

            _seen[hash] = tokens;
        }

        return (matched >= minimum ? matched / block * block : 0, 0, 0);
    }

    private (long, long, long) Breakpoints(List<(string Hash, long Tokens, string? Ttl)> boundaries, Conversation conversation)
    {
        const long minimum = 1024;
        long read = 0;
        foreach (var (hash, tokens, ttl) in boundaries)
        {
            if (ttl is not null && tokens >= minimum && _seen.ContainsKey(hash))
            {
                read = Math.Max(read, tokens);
            }
        }

        var last = boundaries.LastOrDefault(b => b.Ttl is not null && b.Tokens >= minimum);
        foreach (var (hash, tokens, ttl) in boundaries)
        {
            if (ttl is not null)
            {
                _seen[hash] = tokens;
            }
        }

        if (last.Ttl is null || last.Tokens <= read)
        {
            return (read, 0, 0);
        }

        var written = last.Tokens - read;
        return conversation.Segments.Any(s => s.CacheTtl == "1h") ? (read, 0, written) : (read, written, 0);
    }

    /// <summary>For each prompt segment: a hash of the prompt up to and including it, the tokens so far, and its breakpoint.</summary>
    private static List<(string Hash, long Tokens, string? Ttl)> Boundaries(string fingerprint, Conversation conversation)
    {
        var result = new List<(string, long, string?)>(conversation.Segments.Count);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{fingerprint}|{conversation.Api}|{conversation.Model}|"));
        long tokens = 0;
        foreach (var segment in conversation.Segments)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(segment.Json));
            hash.AppendData("\u0001"u8);
            tokens += segment.Tokens;
            result.Add((Convert.ToHexString(hash.GetCurrentHash()), tokens, segment.CacheTtl));
        }

        return result;
    }
}
