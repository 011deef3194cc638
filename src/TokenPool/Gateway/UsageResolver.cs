using TokenPool.Billing;
using TokenPool.Gateway.Dialects;
using TokenPool.Gateway.Streaming;

namespace TokenPool.Gateway;

/// <summary>The tokens a request is billed for, whether they were estimated, and their cost.</summary>
internal readonly record struct ResolvedUsage(TokenUsage Usage, bool Estimated, long CostMicros, string? Note = null)
{
    public static readonly ResolvedUsage None = new(default, false, 0);
}

/// <summary>
/// Decides the tokens a request is billed for:
/// <list type="number">
/// <item>as the upstream reported them, when the report is plausible;</item>
/// <item>otherwise, if an upstream accepted the request (it answered, or it had the whole request when the client
/// went away), the input (the body, plus the conversation a <c>previous_response_id</c> continues when TokenPool knows
/// it) and the output actually delivered or answered, counted with the tokenizer and marked estimated;</item>
/// <item>otherwise (no upstream took the request) nothing.</item>
/// </list>
/// </summary>
internal sealed class UsageResolver(TokenEstimator estimator)
{
    /// <summary>For a streamed answer (or none): what the upstream's stream reported, else an estimate from what it delivered.</summary>
    public ResolvedUsage FromStream(Admission admission, SseMeter? meter, bool accepted) =>
        Resolve(admission, meter?.Usage, accepted, () => meter is null ? 0 : estimator.CountEscapedText(meter.DeliveredText) + (meter.UncountedTextBytes + 3) / 4);

    /// <summary>For a whole answer: what it reported, else an estimate with its output counted from its text.</summary>
    public ResolvedUsage FromAnswer(Admission admission, AnswerFacts answer, ReadOnlyMemory<byte> body, Dialect upstream) =>
        Resolve(admission, answer.Usage, accepted: true, () => estimator.CountAnswerText(body.Span, upstream.AnswerTextFields));

    private ResolvedUsage Resolve(Admission admission, TokenUsage? reported, bool accepted, Func<long> output)
    {
        if (reported is { IsPlausible: true } usage)
        {
            return new ResolvedUsage(usage, false, Pricing.Cost(usage, admission.Price));
        }

        if (!accepted)
        {
            return ResolvedUsage.None;
        }

        var input = estimator.CountRequestInput(admission.Body.Span) + (admission.PriorTokens ?? 0);
        var estimate = new TokenUsage(input, 0, output(), 0);
        var note = reported is not null ? "The upstream reported impossible token counts; TokenPool counted the tokens itself." : null;
        return new ResolvedUsage(estimate, true, Pricing.Cost(estimate, admission.Price), note);
    }
}
