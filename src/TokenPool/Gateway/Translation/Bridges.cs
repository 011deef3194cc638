namespace TokenPool.Gateway.Translation;

/// <summary>The bridges TokenPool has, by the client's API and the channel's.</summary>
internal static class Bridges
{
    /// <summary>The bridge that carries <paramref name="client"/>'s requests over a channel that speaks <paramref name="upstream"/>; null when there is none.</summary>
    public static IBridge? Find(ApiKind client, ApiKind upstream) => null;
}
