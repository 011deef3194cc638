using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.Keys;

namespace TokenPool.Upstreams;

/// <summary>What an operator sets when adding or editing a channel.</summary>
internal sealed record ChannelSettings(
    string Name,
    string BaseUrl,
    IReadOnlyList<string> Models,
    WireSet? Wire = null,
    int Priority = 0,
    int Weight = 1,
    string? ModelAliases = null,
    int? ConnectTimeoutSeconds = null,
    int? ResponseHeadersTimeoutSeconds = null,
    int? StreamIdleTimeoutSeconds = null,
    int? TotalTimeoutSeconds = null);

/// <summary>Adds, edits and removes channels and their upstream keys (CLI and admin console). Upstream keys are stored encrypted.</summary>
internal sealed class ChannelService(IDbContextFactory<TokenPoolDb> dbFactory, KeySecrets secrets, ChangeFeed changes, TimeProvider time)
{
    public async Task<Channel> AddAsync(ChannelSettings settings, string upstreamKey, CancellationToken cancellationToken)
    {
        Validate(settings);
        if (string.IsNullOrWhiteSpace(upstreamKey))
        {
            throw new ChannelActionException("Give the channel's upstream API key.");
        }

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        if (await db.Channels.AnyAsync(c => c.Name == settings.Name.Trim(), cancellationToken))
        {
            throw new ChannelActionException($"A channel named \"{settings.Name.Trim()}\" already exists. Choose another name, or add a key to it.");
        }

        var now = time.GetUtcNow().UtcDateTime;
        var channel = new Channel
        {
            Name = settings.Name.Trim(),
            BaseUrl = settings.BaseUrl.Trim().TrimEnd('/'),
            Models = "",
            CreatedAt = now,
            UpdatedAt = now,
        };
        Apply(channel, settings);
        channel.Keys.Add(NewKey(upstreamKey, 1, now));
        db.Channels.Add(channel);
        await db.SaveChangesAsync(cancellationToken);
        ChangeFeed.Record(db, ChangeKinds.Channel, channel.Id);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke();
        return channel;
    }

    public async Task<Channel> UpdateAsync(long channelId, ChannelSettings settings, CancellationToken cancellationToken)
    {
        Validate(settings);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var channel = await db.Channels.FirstOrDefaultAsync(c => c.Id == channelId, cancellationToken)
            ?? throw new ChannelActionException("No such channel.");
        if (await db.Channels.AnyAsync(c => c.Name == settings.Name.Trim() && c.Id != channelId, cancellationToken))
        {
            throw new ChannelActionException($"A channel named \"{settings.Name.Trim()}\" already exists.");
        }

        channel.Name = settings.Name.Trim();
        channel.BaseUrl = settings.BaseUrl.Trim().TrimEnd('/');
        Apply(channel, settings);
        channel.UpdatedAt = time.GetUtcNow().UtcDateTime;
        ChangeFeed.Record(db, ChangeKinds.Channel, channel.Id);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke();
        return channel;
    }

    public async Task<ChannelKey> AddKeyAsync(long channelId, string upstreamKey, int weight, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(upstreamKey))
        {
            throw new ChannelActionException("Give the upstream API key to add.");
        }

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        if (!await db.Channels.AnyAsync(c => c.Id == channelId, cancellationToken))
        {
            throw new ChannelActionException("No such channel.");
        }

        var key = NewKey(upstreamKey, weight, time.GetUtcNow().UtcDateTime);
        key.ChannelId = channelId;
        db.ChannelKeys.Add(key);
        ChangeFeed.Record(db, ChangeKinds.Channel, channelId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke();
        return key;
    }

    public async Task SetKeyEnabledAsync(long channelId, long keyId, bool enabled, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        var updated = await db.ChannelKeys.Where(k => k.Id == keyId && k.ChannelId == channelId)
            .ExecuteUpdateAsync(
                s => s.SetProperty(k => k.IsEnabled, enabled)
                    .SetProperty(k => k.DisabledReason, enabled ? null : "Disabled by an admin.")
                    .SetProperty(k => k.DisabledAt, enabled ? null : now),
                cancellationToken);
        if (updated == 0)
        {
            throw new ChannelActionException("No such key in this channel.");
        }

        ChangeFeed.Record(db, ChangeKinds.Channel, channelId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke();
    }

    public async Task RemoveKeyAsync(long channelId, long keyId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        if (await db.ChannelKeys.Where(k => k.Id == keyId && k.ChannelId == channelId).ExecuteDeleteAsync(cancellationToken) == 0)
        {
            throw new ChannelActionException("No such key in this channel.");
        }

        ChangeFeed.Record(db, ChangeKinds.Channel, channelId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke();
    }

    public async Task SetEnabledAsync(long channelId, bool enabled, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var now = time.GetUtcNow().UtcDateTime;
        if (await db.Channels.Where(c => c.Id == channelId)
                .ExecuteUpdateAsync(s => s.SetProperty(c => c.IsEnabled, enabled).SetProperty(c => c.UpdatedAt, now), cancellationToken) == 0)
        {
            throw new ChannelActionException("No such channel.");
        }

        ChangeFeed.Record(db, ChangeKinds.Channel, channelId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke();
    }

    public async Task RemoveAsync(long channelId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var channel = await db.Channels.Include(c => c.Keys).FirstOrDefaultAsync(c => c.Id == channelId, cancellationToken)
            ?? throw new ChannelActionException("No such channel.");
        db.Channels.Remove(channel);
        ChangeFeed.Record(db, ChangeKinds.Channel, channelId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke();
    }

    public async Task<List<Channel>> ListAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Channels.AsNoTracking().Include(c => c.Keys).OrderByDescending(c => c.Priority).ThenBy(c => c.Name).ToListAsync(cancellationToken);
    }

    public async Task<Channel?> FindAsync(string nameOrId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var query = db.Channels.AsNoTracking().Include(c => c.Keys);
        return long.TryParse(nameOrId, out var id)
            ? await query.FirstOrDefaultAsync(c => c.Id == id || c.Name == nameOrId, cancellationToken)
            : await query.FirstOrDefaultAsync(c => c.Name == nameOrId, cancellationToken);
    }

    private ChannelKey NewKey(string upstreamKey, int weight, DateTime now)
    {
        var trimmed = upstreamKey.Trim();
        return new ChannelKey
        {
            ProtectedKey = secrets.ProtectUpstreamKey(trimmed),
            Last4 = trimmed.Length >= 4 ? trimmed[^4..] : trimmed,
            Weight = Math.Max(1, weight),
            CreatedAt = now,
        };
    }

    private static void Apply(Channel channel, ChannelSettings settings)
    {
        channel.Wire = settings.Wire ?? WireSet.OpenAi;
        channel.Priority = settings.Priority;
        channel.Weight = Math.Max(1, settings.Weight);
        channel.Models = string.Join(',', settings.Models.Select(m => m.Trim()).Where(m => m.Length > 0).Distinct(StringComparer.Ordinal));
        channel.ModelAliases = string.IsNullOrWhiteSpace(settings.ModelAliases) ? null : settings.ModelAliases.Trim();
        channel.ConnectTimeoutSeconds = settings.ConnectTimeoutSeconds;
        channel.ResponseHeadersTimeoutSeconds = settings.ResponseHeadersTimeoutSeconds;
        channel.StreamIdleTimeoutSeconds = settings.StreamIdleTimeoutSeconds;
        channel.TotalTimeoutSeconds = settings.TotalTimeoutSeconds;
    }

    private static void Validate(ChannelSettings settings)
    {
        if (string.IsNullOrWhiteSpace(settings.Name) || settings.Name.Trim().Length > 100)
        {
            throw new ChannelActionException("A channel name must be 1 to 100 characters.");
        }

        if (!Uri.TryCreate(settings.BaseUrl.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ChannelActionException("The base URL must be an http or https URL, e.g. https://api.openai.com/v1.");
        }

        if (settings.Wire is { IsEmpty: true })
        {
            throw new ChannelActionException("Choose at least one API the upstream serves: responses, chat or messages.");
        }

        if (!settings.Models.Any(m => !string.IsNullOrWhiteSpace(m)))
        {
            throw new ChannelActionException("List at least one model the channel serves, e.g. gpt-5.5.");
        }

        Timeout(settings.ConnectTimeoutSeconds, "connect", 600);
        Timeout(settings.ResponseHeadersTimeoutSeconds, "response headers", 7200);
        Timeout(settings.StreamIdleTimeoutSeconds, "stream idle", 7200);
        Timeout(settings.TotalTimeoutSeconds, "total", 86400);

        foreach (var pair in UpstreamPool.SplitList(settings.ModelAliases))
        {
            if (pair.Split('=', 2, StringSplitOptions.TrimEntries) is not [{ Length: > 0 }, { Length: > 0 }])
            {
                throw new ChannelActionException($"The alias \"{pair}\" is not of the form client-model=upstream-model.");
            }
        }
    }

    private static void Timeout(int? seconds, string what, int max)
    {
        if (seconds is < 1 || seconds > max)
        {
            throw new ChannelActionException($"The {what} timeout must be from 1 to {max} seconds, or empty for the server's default.");
        }
    }
}

/// <summary>A channel action that cannot be done as asked; the message says why.</summary>
internal sealed class ChannelActionException(string message) : Exception(message);
