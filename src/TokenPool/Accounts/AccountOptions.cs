using System.ComponentModel.DataAnnotations;

namespace TokenPool.Accounts;

/// <summary>Sign-up and sign-in settings. Bound from the <c>Accounts</c> section.</summary>
internal sealed class AccountOptions
{
    public const string Section = "Accounts";

    /// <summary>Credit, in US dollars, that every new account starts with.</summary>
    [Range(0, 1_000_000)]
    public decimal StartingCreditUsd { get; set; }

    /// <summary>Whether people may create accounts in the console themselves.</summary>
    public bool AllowSignUp { get; set; } = true;
}
