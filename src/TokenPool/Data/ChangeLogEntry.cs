namespace TokenPool.Data;

/// <summary>
/// One configuration change (a channel, key, account or price). Every running instance follows this
/// log and drops or reloads what it caches, so a change made by the console or the CLI in another
/// process reaches all of them within a poll interval.
/// </summary>
internal sealed class ChangeLogEntry
{
    public long Seq { get; set; }

    public required string Kind { get; set; }

    public long? EntityId { get; set; }

    public DateTime CreatedAt { get; set; }
}

internal static class ChangeKinds
{
    public const string Channel = "channel";
    public const string Key = "key";
    public const string Account = "account";
    public const string Price = "price";
}
