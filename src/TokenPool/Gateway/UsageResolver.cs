using TokenPool.Billing;

namespace TokenPool.Gateway;

/// <summary>Decides the tokens a request is billed for, and their cost.</summary>
internal sealed class UsageResolver(TokenEstimator estimator)
{
    /// <summary>
    /// As the upstream reported them when the report is plausible. Otherwise, if an upstream accepted the
    /// request, the input plus the output actually delivered, counted with the tokenizer and marked
    /// estimated. Otherwise (no upstream took the request) nothing.
    /// </summary>
    public void Resolve(Exchange exchange)
    {
        exchange.UsageResolved = true;
        var reported = exchange.Meter?.Usage ?? exchange.BufferedUsage;
        if (reported is { IsPlausible: true } usage)
        {
            exchange.Usage = usage;
        }
        else if (exchange.UpstreamAccepted)
        {
            if (reported is not null)
            {
                exchange.Notes.Add("The upstream reported impossible token counts; TokenPool counted the tokens itself.");
            }

            var input = estimator.CountRequestInput(exchange.Body.Span);
            var output = 0L;
            if (exchange.Meter is { } meter)
            {
                output = estimator.CountEscapedText(meter.DeliveredText) + (meter.UncountedTextBytes + 3) / 4;
            }

            exchange.Usage = new TokenUsage(input, 0, output, 0);
            exchange.UsageEstimated = true;
        }
        else
        {
            exchange.Usage = default;
        }

        exchange.CostMicros = Pricing.Cost(exchange.Usage, exchange.Price);
    }
}
