using System.Globalization;
using TokenPool.Billing;

namespace TokenPool.WebConsole;

/// <summary>The usage page's filter as checked: whole UTC days, both ends inclusive.</summary>
internal sealed record UsageFilterChoice(DateOnly From, DateOnly To, long? KeyId, string? Model, StatusFilter Status)
{
    public int Days => To.DayNumber - From.DayNumber + 1;

    /// <summary>The query filter for one account: from the start of <see cref="From"/> to the end of <see cref="To"/>.</summary>
    public UsageFilter For(long accountId) =>
        new(accountId, From.ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc), To.AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc))
        {
            KeyId = KeyId,
            Model = Model,
            Status = Status,
        };
}

/// <summary>The outcome of reading the usage page's filter fields: a filter, or a message saying what to fix.</summary>
internal sealed record UsageFilterResult(UsageFilterChoice? Choice, string? Error);

/// <summary>
/// Reads the usage page's filter fields (as typed into the query string, so anything at all) into a bounded
/// filter. Every bad value gives a plain message saying what to change; nothing here throws.
/// </summary>
internal static class UsageFilterForm
{
    public const string DateFormat = "yyyy-MM-dd";

    /// <summary>Days shown when no dates are chosen: the last 30, today included.</summary>
    public const int DefaultDays = 30;

    public static int MaxDays => (int)UsageQueries.MaxRange.TotalDays;

    private static readonly DateOnly Earliest = new(2000, 1, 1);
    private static readonly DateOnly Latest = new(9000, 12, 31);

    public static UsageFilterResult Parse(string? from, string? to, string? key, string? model, string? status, DateOnly today)
    {
        if (!TryDate(from, "start", out var start, out var error) || !TryDate(to, "end", out var end, out error))
        {
            return new UsageFilterResult(null, error);
        }

        var last = end ?? (start is { } s && s > today ? s : today);
        var first = start ?? last.AddDays(1 - DefaultDays);
        if (last < first)
        {
            return new UsageFilterResult(null, "The end date is before the start date. Choose an end date on or after the start date.");
        }

        var days = last.DayNumber - first.DayNumber + 1;
        if (days > MaxDays)
        {
            return new UsageFilterResult(null, $"That range covers {days.ToString("N0", CultureInfo.InvariantCulture)} days. Choose a range of at most {MaxDays} days.");
        }

        long? keyId = null;
        if (!string.IsNullOrWhiteSpace(key) && key.Trim() != "all")
        {
            if (!long.TryParse(key.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var id) || id <= 0)
            {
                return new UsageFilterResult(null, "That key filter is not valid. Choose a key from the list.");
            }

            keyId = id;
        }

        var chosenModel = string.IsNullOrWhiteSpace(model) ? null : model.Trim();
        if (chosenModel is { Length: > 200 })
        {
            return new UsageFilterResult(null, "That model name is too long. Choose a model from the list.");
        }

        var statusFilter = status?.Trim().ToLowerInvariant() switch
        {
            null or "" or "any" => StatusFilter.Any,
            "succeeded" => StatusFilter.Succeeded,
            "failed" => StatusFilter.Failed,
            _ => (StatusFilter?)null,
        };
        return statusFilter is { } chosenStatus
            ? new UsageFilterResult(new UsageFilterChoice(first, last, keyId, chosenModel, chosenStatus), null)
            : new UsageFilterResult(null, "That status filter is not valid. Choose any, succeeded or failed.");
    }

    public static string StatusValue(StatusFilter status) => status switch
    {
        StatusFilter.Succeeded => "succeeded",
        StatusFilter.Failed => "failed",
        _ => "any",
    };

    public static string Format(DateOnly day) => day.ToString(DateFormat, CultureInfo.InvariantCulture);

    private static bool TryDate(string? text, string which, out DateOnly? day, out string? error)
    {
        day = null;
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        if (!DateOnly.TryParseExact(text.Trim(), DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out var parsed))
        {
            error = $"The {which} date \"{Shorten(text.Trim())}\" is not a date. Use the form YYYY-MM-DD, for example 2026-11-22.";
            return false;
        }

        if (parsed < Earliest || parsed > Latest)
        {
            error = $"The {which} date {Format(parsed)} is out of range. Choose a date between {Format(Earliest)} and {Format(Latest)}.";
            return false;
        }

        day = parsed;
        return true;
    }

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
