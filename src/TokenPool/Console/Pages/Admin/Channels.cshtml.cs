using Microsoft.AspNetCore.Mvc;
using TokenPool.Upstreams;

namespace TokenPool.WebConsole.Pages.Admin;

/// <summary>Admin: the upstream channels and their health on this instance; add, disable, delete and test them.</summary>
internal sealed class ChannelsModel(ChannelService channels, ChannelTester tester, UpstreamPool pool, ChannelHealth health, TimeProvider time) : ConsolePageModel
{
    public List<Channel> Channels { get; private set; } = [];

    public DateTime UtcNow { get; } = time.GetUtcNow().UtcDateTime;

    public ChannelHealthView Health(Channel channel) => health.Of(channel);

    public int WindowMinutes => pool.Options.HealthWindowMinutes;

    public ChannelForm Form { get; private set; } = ChannelForm.New();

    public TestOutcome? Test { get; private set; }

    public bool UsesSimulator => pool.Snapshot.UsesSimulator;

    public async Task OnGetAsync(CancellationToken cancellationToken) => Channels = await channels.ListAsync(cancellationToken);

    public async Task<IActionResult> OnPostAddAsync(ChannelForm form, string? upstreamKey, CancellationToken cancellationToken)
    {
        Form = form;
        return await ActAsync(async () =>
        {
            var channel = await channels.AddAsync(form.ToSettings(), upstreamKey ?? "", cancellationToken);
            Form = ChannelForm.New();
            return $"Channel \"{channel.Name}\" added.";
        }, cancellationToken);
    }

    public async Task<IActionResult> OnPostEnableAsync(long channelId, bool enabled, CancellationToken cancellationToken) =>
        await ActAsync(async () =>
        {
            await channels.SetEnabledAsync(channelId, enabled, cancellationToken);
            return enabled ? "Channel enabled." : "Channel disabled: no new request goes to it.";
        }, cancellationToken);

    public async Task<IActionResult> OnPostDeleteAsync(long channelId, CancellationToken cancellationToken) =>
        await ActAsync(async () =>
        {
            await channels.RemoveAsync(channelId, cancellationToken);
            return "Channel deleted.";
        }, cancellationToken);

    public async Task<IActionResult> OnPostTestAsync(long channelId, CancellationToken cancellationToken) =>
        await ActAsync(async () =>
        {
            Test = await tester.TestAsync(channelId, cancellationToken);
            return null;
        }, cancellationToken);

    private async Task<IActionResult> ActAsync(Func<Task<string?>> action, CancellationToken cancellationToken)
    {
        try
        {
            Notice = await action();
        }
        catch (ChannelActionException error)
        {
            Error = error.Message;
        }

        Channels = await channels.ListAsync(cancellationToken);
        return Page();
    }
}
