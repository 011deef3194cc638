using TokenPool.Gateway.Translation;

namespace TokenPool.Upstreams;

/// <summary>
/// The wire APIs a channel's upstream itself serves, as its operator declared them (<c>--wire responses,chat</c>).
/// A request in one of them is passed through byte for byte; a request in another API is carried over a bridge
/// when one exists for the pair. Stored as bits, one per <see cref="ApiKind"/>.
/// </summary>
internal readonly record struct WireSet(int Bits)
{
    /// <summary>What OpenAI (and Azure OpenAI) serve: Responses and Chat Completions. The default for a new channel.</summary>
    public static readonly WireSet OpenAi = Of(ApiKind.Responses) | Of(ApiKind.ChatCompletions);

    /// <summary>Every API, in the order routing prefers them when none is the client's own.</summary>
    public static readonly IReadOnlyList<ApiKind> Known = [ApiKind.Responses, ApiKind.ChatCompletions, ApiKind.Messages];

    public static WireSet Of(ApiKind api) => new(1 << (int)api);

    public bool IsEmpty => Bits == 0;

    public bool Contains(ApiKind api) => (Bits & (1 << (int)api)) != 0;

    /// <summary>The APIs in the set, in <see cref="Known"/> order.</summary>
    public IEnumerable<ApiKind> Apis => Known.Where(Contains);

    public static WireSet operator |(WireSet left, WireSet right) => new(left.Bits | right.Bits);

    /// <summary>The name an operator writes for an API: <c>responses</c>, <c>chat</c> or <c>messages</c>.</summary>
    public static string NameOf(ApiKind api) => api switch
    {
        ApiKind.Responses => "responses",
        ApiKind.ChatCompletions => "chat",
        ApiKind.Messages => "messages",
        _ => throw new ArgumentOutOfRangeException(nameof(api)),
    };

    /// <summary>Reads <c>responses,chat</c> (any order, any case, spaces allowed). An empty or unknown entry is an error.</summary>
    public static bool TryParse(string? text, out WireSet set, out string? error)
    {
        set = default;
        error = null;
        var names = (text ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0)
        {
            error = "Name at least one API the upstream serves: responses, chat or messages (comma-separated, e.g. responses,chat).";
            return false;
        }

        foreach (var name in names)
        {
            var api = Known.Where(a => string.Equals(NameOf(a), name, StringComparison.OrdinalIgnoreCase)).Select(a => (ApiKind?)a).FirstOrDefault();
            if (api is null)
            {
                error = $"\"{(name.Length > 40 ? name[..40] + "…" : name)}\" is not an API TokenPool knows. Use responses, chat or messages (comma-separated, e.g. responses,chat).";
                return false;
            }

            set |= Of(api.Value);
        }

        return true;
    }

    public static WireSet Parse(string text) =>
        TryParse(text, out var set, out var error) ? set : throw new FormatException(error);

    public override string ToString() => string.Join(',', Apis.Select(NameOf));
}
