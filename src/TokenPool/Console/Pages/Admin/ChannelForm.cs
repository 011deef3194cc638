using TokenPool.Upstreams;

namespace TokenPool.WebConsole.Pages.Admin;

/// <summary>The channel fields an admin edits, as posted by the form.</summary>
internal sealed class ChannelForm
{
    public string? Name { get; set; }

    public string? BaseUrl { get; set; }

    /// <summary>The APIs the upstream serves, one checkbox each (<c>responses</c>, <c>chat</c>, <c>messages</c>).</summary>
    public string[] Wire { get; set; } = [];

    public bool Serves(TokenPool.Gateway.Translation.ApiKind api) => Wire.Contains(WireSet.NameOf(api), StringComparer.OrdinalIgnoreCase);

    public string? Models { get; set; }

    public string? Aliases { get; set; }

    public int Priority { get; set; }

    public int Weight { get; set; } = 1;

    /// <summary>Seconds; empty for the server's default, as for the other timeouts.</summary>
    public int? ConnectTimeout { get; set; }

    public int? HeadersTimeout { get; set; }

    public int? IdleTimeout { get; set; }

    public int? TotalTimeout { get; set; }

    /// <summary>An empty form for a new channel: it serves what OpenAI serves until the admin says otherwise.</summary>
    public static ChannelForm New() => new() { Wire = [.. WireSet.OpenAi.Apis.Select(WireSet.NameOf)] };

    public static ChannelForm From(Channel channel) => new()
    {
        Name = channel.Name,
        BaseUrl = channel.BaseUrl,
        Wire = [.. channel.Wire.Apis.Select(WireSet.NameOf)],
        Models = channel.Models.Replace(",", ", ", StringComparison.Ordinal),
        Aliases = channel.ModelAliases,
        Priority = channel.Priority,
        Weight = channel.Weight,
        ConnectTimeout = channel.ConnectTimeoutSeconds,
        HeadersTimeout = channel.ResponseHeadersTimeoutSeconds,
        IdleTimeout = channel.StreamIdleTimeoutSeconds,
        TotalTimeout = channel.TotalTimeoutSeconds,
    };

    public ChannelSettings ToSettings() => new(
        Name ?? "",
        BaseUrl ?? "",
        (Models ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        WireSet.TryParse(string.Join(',', Wire), out var wire, out _) ? wire : default(WireSet),
        Priority,
        Weight,
        Aliases,
        ConnectTimeout,
        HeadersTimeout,
        IdleTimeout,
        TotalTimeout);
}
