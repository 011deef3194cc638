namespace TokenPool.Cli;

/// <summary>The store flags every verb takes: <c>--data</c>, <c>--database</c>, <c>--secrets</c>, <c>--redis</c>.</summary>
internal sealed record StoreFlags(string? Data, string? Database, string? Secrets, string? Redis)
{
    /// <summary>The settings the flags given stand for; flags override the environment and configuration files.</summary>
    public Dictionary<string, string?> Overrides()
    {
        var settings = new Dictionary<string, string?>();
        if (!string.IsNullOrWhiteSpace(Database))
        {
            settings["Store:Database"] = Database;
        }

        if (!string.IsNullOrWhiteSpace(Secrets))
        {
            settings["Store:SecretsDirectory"] = Secrets;
        }

        if (!string.IsNullOrWhiteSpace(Redis))
        {
            settings["Store:Redis"] = Redis;
        }

        return settings;
    }
}
