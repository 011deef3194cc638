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

    /// <summary>Wrong passwords for one account (from browsers it does not know) before each further attempt waits.</summary>
    [Range(1, 1000)]
    public int MaxWrongPasswordsPerAccount { get; set; } = 5;

    /// <summary>Wrong passwords from one client address before each further attempt from it waits.</summary>
    [Range(1, 10000)]
    public int MaxWrongPasswordsPerAddress { get; set; } = 20;

    /// <summary>Wrong two-factor or recovery codes for one account before each further attempt waits.</summary>
    [Range(1, 1000)]
    public int MaxWrongCodesPerAccount { get; set; } = 5;

    /// <summary>The first wait once a limit is passed; each further wrong guess doubles it.</summary>
    [Range(1, 3600)]
    public int ThrottleFirstDelaySeconds { get; set; } = 2;

    /// <summary>
    /// The longest wait an account's wrong passwords impose. This bounds how long someone else's guesses can keep
    /// the owner out, even on a browser the account has never used.
    /// </summary>
    [Range(1, 3600)]
    public int MaxAccountDelaySeconds { get; set; } = 60;

    /// <summary>The longest wait one client address's wrong passwords or codes impose.</summary>
    [Range(1, 86400)]
    public int MaxAddressDelaySeconds { get; set; } = 900;

    /// <summary>Wrong guesses are forgotten this long after the last one (at least twice the longest wait).</summary>
    [Range(1, 86400)]
    public int ThrottleWindowSeconds { get; set; } = 900;

    /// <summary>How long a browser stays known to an account after signing in (its device cookie).</summary>
    [Range(1, 3650)]
    public int KnownDeviceDays { get; set; } = 365;
}
