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
    /// lease top-ups wait for it: moderate batches keep that wait short under sustained load.
    /// </summary>
    [Range(1, 10_000)]
    public int SettlementBatchSize { get; set; } = 256;

    /// <summary>
    /// Milliseconds the writer waits after the first usage record of a batch arrives for more to join it,
    /// so that busy traffic pays for one commit per many requests instead of one per request. Records are
    /// written at most this much later; zero writes each as soon as the writer is free.
    /// </summary>
    [Range(0, 1_000)]
    public int SettlementDelayMilliseconds { get; set; } = 20;

    /// <summary>
    /// How many requests like the one that found its lease empty a lease top-up holds room for. A gateway
    /// instance reserves balance for an account and key in leases, one atomic statement each, and then
    /// holds each request's reserve from the lease in memory; 1 reserves in the database for every request.
    /// </summary>
    [Range(1, 1_000)]
    public int LeaseRequests { get; set; } = 32;

    /// <summary>Seconds without a new request after which a lease's unused room goes back to the balance.</summary>
    [Range(1, 3_600)]
    public int LeaseIdleSeconds { get; set; } = 5;

    /// <summary>
    /// Milliseconds a request may wait for room when the balance (or its key's spend limit) has none left for it but
    /// requests of the same account are still in flight: their unspent holds come back as they finish, so a burst is
    /// served instead of refused. Zero refuses at once.
    /// </summary>
    [Range(0, 30_000)]
    public int WaitForRoomMilliseconds { get; set; } = 3_000;

    public long OverdraftMicros => Money.FromDollars(OverdraftUsd);
}
