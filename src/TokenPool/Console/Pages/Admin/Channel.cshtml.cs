using Microsoft.AspNetCore.Mvc;
using TokenPool.Upstreams;

namespace TokenPool.WebConsole.Pages.Admin;

/// <summary>Admin: edit one channel and its upstream keys (shown only by their last four characters), and see their health on this instance.</summary>
internal sealed class ChannelModel(ChannelService channels, ChannelHealth health, TimeProvider time) : ConsolePageModel
{
    public Channel Channel { get; private set; } = null!;

    public ChannelHealthView Health { get; private set; } = null!;

    public DateTime UtcNow { get; } = time.GetUtcNow().UtcDateTime;

    public ChannelForm Form { get; private set; } = new();

    public async Task<IActionResult> OnGetAsync(long id, CancellationToken cancellationToken) =>
        await LoadAsync(id, cancellationToken) ? Page() : NotFound();

    public async Task<IActionResult> OnPostSaveAsync(long id, ChannelForm form, CancellationToken cancellationToken)
    {
        var result = await ActAsync(id, async () =>
        {
            await channels.UpdateAsync(id, form.ToSettings(), cancellationToken);
            return "Saved. New requests use the new settings.";
        }, cancellationToken);
        if (Error is not null)
        {
            Form = form;
        }

        return result;
    }

    public Task<IActionResult> OnPostAddKeyAsync(long id, string? upstreamKey, CancellationToken cancellationToken) =>
        ActAsync(id, async () =>
        {
            await channels.AddKeyAsync(id, upstreamKey ?? "", 1, cancellationToken);
            return "Upstream key added.";
        }, cancellationToken);

    public Task<IActionResult> OnPostKeyEnabledAsync(long id, long keyId, bool enabled, CancellationToken cancellationToken) =>
        ActAsync(id, async () =>
        {
            await health.SetKeyEnabledAsync(id, keyId, enabled, AccountId, ClientAddress, cancellationToken);
            return enabled ? "Upstream key enabled." : "Upstream key disabled.";
        }, cancellationToken);

    public Task<IActionResult> OnPostResetKeyAsync(long id, long keyId, CancellationToken cancellationToken) =>
        ActAsync(id, async () =>
        {
            await health.ResetKeyAsync(id, keyId, AccountId, ClientAddress, cancellationToken);
            return "Circuit closed and cool-down ended on this instance: the key takes requests again.";
        }, cancellationToken);

    public Task<IActionResult> OnPostRemoveKeyAsync(long id, long keyId, CancellationToken cancellationToken) =>
        ActAsync(id, async () =>
        {
            await channels.RemoveKeyAsync(id, keyId, cancellationToken);
            return "Upstream key removed.";
        }, cancellationToken);

    private async Task<IActionResult> ActAsync(long id, Func<Task<string>> action, CancellationToken cancellationToken)
    {
        try
        {
            Notice = await action();
        }
        catch (ChannelActionException error)
        {
            Error = error.Message;
        }

        return await LoadAsync(id, cancellationToken) ? Page() : NotFound();
    }

    private async Task<bool> LoadAsync(long id, CancellationToken cancellationToken)
    {
        var channel = (await channels.ListAsync(cancellationToken)).FirstOrDefault(c => c.Id == id);
        if (channel is null)
        {
            return false;
        }

        Channel = channel;
        Health = health.Of(channel);
        Form = ChannelForm.From(channel);
        return true;
    }
}
