using System.ComponentModel.DataAnnotations;

namespace TokenPool.Accounts;

/// <summary>Sign-up, verification and recovery settings. Bound from the <c>Accounts</c> section.</summary>
internal sealed class AccountOptions
{
    public const string Section = "Accounts";

    /// <summary>Credit, in US dollars, that every new account starts with.</summary>
    [Range(0, 1_000_000)]
    public decimal StartingCreditUsd { get; set; }

    /// <summary>Whether people may create accounts in the console themselves.</summary>
    public bool AllowSignUp { get; set; } = true;

    /// <summary>
    /// New accounts must follow a link sent to their email before they can create API keys (they can sign in
    /// before). Needs mail (<c>Mail:Host</c>). Sign-up then also never tells whether an email has an account.
    /// </summary>
    public bool RequireVerifiedEmail { get; set; }

    /// <summary>How long a password-reset link works.</summary>
    [Range(5, 1440)]
    public int PasswordResetMinutes { get; set; } = 30;

    /// <summary>How long an email-verification link works.</summary>
    [Range(1, 720)]
    public int VerifyEmailHours { get; set; } = 48;

    /// <summary>Sign-ups allowed from one client address before further ones wait (growing waits, forgotten after a day).</summary>
    [Range(1, 10_000)]
    public int MaxSignUpsPerAddress { get; set; } = 3;

    /// <summary>Sign-ups allowed from one network (a /24 for IPv4, a /64 for IPv6) before further ones wait.</summary>
    [Range(1, 100_000)]
    public int MaxSignUpsPerNetwork { get; set; } = 10;

    /// <summary>Password-reset (and verification-mail) requests allowed from one client address before further ones wait.</summary>
    [Range(1, 10_000)]
    public int MaxResetRequestsPerAddress { get; set; } = 5;

    /// <summary>Reset mails sent to one account before further requests for it are quietly dropped for a while.</summary>
    [Range(1, 100)]
    public int MaxResetMailsPerAccount { get; set; } = 3;
}
