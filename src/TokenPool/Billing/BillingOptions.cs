using System.ComponentModel.DataAnnotations;

namespace TokenPool.Billing;

/// <summary>Quota and metering settings. Bound from the <c>Billing</c> section.</summary>
internal sealed class BillingOptions
{
    public const string Section = "Billing";

    /// <summary>
    /// How far below zero a balance may go when a request turns out to cost more than was reserved for
    /// it (a longer answer than the reserve allowed). Cost beyond the bound is recorded but not charged.
    /// Zero, the default, means a balance never goes below zero.
    /// </summary>
    [Range(0, 1_000_000)]
    public decimal OverdraftUsd { get; set; }

    /// <summary>
    /// Request body bytes assumed per input token when reserving. Three is below what real tokenizers
    /// give for English, code and JSON, so the reserve is an over-estimate and the refund is the rest.
    /// </summary>
    [Range(1, 16)]
    public int ReserveBytesPerInputToken { get; set; } = 3;

    /// <summary>How long after a request's total timeout a reservation is considered abandoned and released.</summary>
    [Range(1, 1440)]
    public int ReservationGraceMinutes { get; set; } = 10;

    /// <summary>
    /// Largest number of usage records written in one transaction. Each batch holds the single writer, so
    /// quota reservations wait for it: small batches keep that wait short under sustained load.
    /// </summary>
    [Range(1, 10_000)]
    public int SettlementBatchSize { get; set; } = 32;

    public long OverdraftMicros => Money.FromDollars(OverdraftUsd);
}
