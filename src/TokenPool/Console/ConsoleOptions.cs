using System.ComponentModel.DataAnnotations;

namespace TokenPool.WebConsole;

/// <summary>Console sessions and sign-in protection. Bound from the <c>Console</c> section.</summary>
internal sealed class ConsoleOptions
{
    public const string Section = "Console";

    /// <summary>How long a password entry counts as recent for revealing or configuring a key.</summary>
    [Range(1, 3600)]
    public int RecentPasswordSeconds { get; set; } = 300;

    /// <summary>How long a console session lasts without use.</summary>
    [Range(1, 720)]
    public int SessionHours { get; set; } = 12;

    /// <summary>Wrong passwords allowed for one account within <see cref="ThrottleWindowSeconds"/>.</summary>
    [Range(1, 1000)]
    public int MaxWrongPasswordsPerAccount { get; set; } = 5;

    /// <summary>Wrong passwords allowed from one client address within <see cref="ThrottleWindowSeconds"/>.</summary>
    [Range(1, 10000)]
    public int MaxWrongPasswordsPerAddress { get; set; } = 20;

    [Range(1, 86400)]
    public int ThrottleWindowSeconds { get; set; } = 900;
}
