using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenPool.Gateway;

/// <summary>What a passed-through request body must say upstream, decided per attempt by the upstream's dialect.</summary>
/// <param name="UpstreamModel">The model name the channel knows (after its aliases).</param>
/// <param name="OutputLimit">The output limit TokenPool holds money for: the only one the upstream gets.</param>
/// <param name="OutputLimitField">The field it goes in (<c>max_output_tokens</c>, <c>max_completion_tokens</c>, <c>max_tokens</c>).</param>
/// <param name="AskForStreamUsage">Add <c>stream_options.include_usage: true</c> (a Chat stream reports usage only when asked).</param>
/// <param name="DropReasoning">Leave reasoning items out of <c>input</c> (an upstream account that did not make them cannot read them).</param>
internal readonly record struct RewritePlan(string UpstreamModel, long OutputLimit, string OutputLimitField, bool AskForStreamUsage, bool DropReasoning);

/// <summary>
/// Rewrites a passed-through request body for its upstream, member by member: the top-level members TokenPool
/// decides (the model name, the output limit, the usage request, reasoning items) are replaced, dropped or added,
/// and every other member goes on byte for byte, as does the whitespace between members that stay. A body that
/// already says what the plan says is not copied at all.
/// <list type="number">
/// <item>Every output-limit member the client sent (<c>max_output_tokens</c>, <c>max_completion_tokens</c>,
/// <c>max_tokens</c>) is dropped and the plan's one is added, so the upstream cannot pick a larger one than TokenPool
/// held money for, whatever the client sent (one field, both, none).</item>
/// <item>The model's value is replaced when the channel names the model differently.</item>
/// <item><c>stream_options.include_usage</c> is set (other stream options kept) when the plan asks for usage.</item>
/// <item>Reasoning items are removed from <c>input</c> when the plan says so (only <c>input</c> is parsed for it).</item>
/// </list>
/// </summary>
internal static class RequestRewriter
{
    /// <summary>Re-encodes strings as the client wrote them where JSON allows it (no <c>\u0022</c> for quotes inside strings).</summary>
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The body to send upstream, or null when the original bytes already say what the plan says.</summary>
    public static byte[]? Rewrite(ReadOnlySpan<byte> body, RequestFacts facts, RewritePlan plan)
    {
        var renameModel = !string.Equals(plan.UpstreamModel, facts.Model, StringComparison.Ordinal);
        var addUsage = plan.AskForStreamUsage && !facts.IncludeUsage;
        var limitInPlace = HasOnlyTheLimit(facts, plan);
        if (!renameModel && !addUsage && !plan.DropReasoning && limitInPlace)
        {
            return null;
        }

        var output = new ArrayBufferWriter<byte>(body.Length + 96);
        var members = facts.Members;
        var firstStart = members.Count > 0 ? members[0].Start : body.LastIndexOf((byte)'}');
        output.Write(body[..firstStart]);
        var written = 0;
        var previousEnd = -1;
        var streamOptionsWritten = false;
        foreach (var member in members)
        {
            if (member.Kind == MemberKind.OutputLimit && !limitInPlace)
            {
                previousEnd = member.End;
                continue;
            }

            if (written > 0)
            {
                // The separator that came before this member in the body (a comma and any space), or a bare comma
                // when the member before it was dropped.
                output.Write(previousEnd >= 0 && written > 0 && IsSeparator(body[previousEnd..member.Start]) ? body[previousEnd..member.Start] : ","u8);
            }

            switch (member.Kind)
            {
                case MemberKind.Model when renameModel:
                    output.Write(body[member.Start..member.ValueStart]);
                    WriteString(output, plan.UpstreamModel);
                    output.Write(body[(facts.ModelTokenStart + facts.ModelTokenLength)..member.End]);
                    break;
                case MemberKind.StreamOptions when addUsage:
                    output.Write(body[member.Start..member.ValueStart]);
                    output.Write(StreamOptionsWithUsage(body[member.ValueStart..member.End]));
                    streamOptionsWritten = true;
                    break;
                case MemberKind.Input when plan.DropReasoning:
                    output.Write(body[member.Start..member.ValueStart]);
                    output.Write(InputWithoutReasoning(body[member.ValueStart..member.End]));
                    break;
                default:
                    output.Write(body[member.Start..member.End]);
                    break;
            }

            written++;
            previousEnd = member.End;
        }

        if (addUsage && !streamOptionsWritten)
        {
            output.Write(written++ > 0 ? ",\"stream_options\":{\"include_usage\":true}"u8 : "\"stream_options\":{\"include_usage\":true}"u8);
        }

        if (!limitInPlace)
        {
            output.Write(written > 0 ? ",\""u8 : "\""u8);
            output.Write(Encoding.UTF8.GetBytes(plan.OutputLimitField));
            output.Write("\":"u8);
            Span<byte> digits = stackalloc byte[20];
            plan.OutputLimit.TryFormat(digits, out var length, provider: CultureInfo.InvariantCulture);
            output.Write(digits[..length]);
        }

        var lastEnd = members.Count > 0 ? members[^1].End : firstStart;
        output.Write(body[lastEnd..]);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Whether the body's only output limit is the plan's field with the plan's value.</summary>
    private static bool HasOnlyTheLimit(RequestFacts facts, RewritePlan plan)
    {
        var found = false;
        foreach (var member in facts.Members)
        {
            if (member.Kind != MemberKind.OutputLimit)
            {
                continue;
            }

            if (found || member.Name != plan.OutputLimitField || member.Value != plan.OutputLimit)
            {
                return false;
            }

            found = true;
        }

        return found;
    }

    /// <summary>Whitespace and exactly one comma: what lies between two members of an object.</summary>
    private static bool IsSeparator(ReadOnlySpan<byte> between)
    {
        var commas = 0;
        foreach (var b in between)
        {
            if (b == (byte)',')
            {
                commas++;
            }
            else if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return commas == 1;
    }

    private static void WriteString(ArrayBufferWriter<byte> output, string value)
    {
        output.Write("\""u8);
        output.Write(JsonEncodedText.Encode(value, System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping).EncodedUtf8Bytes);
        output.Write("\""u8);
    }

    private static byte[] StreamOptionsWithUsage(ReadOnlySpan<byte> value)
    {
        var options = JsonNode.Parse(value) as JsonObject ?? [];
        options["include_usage"] = true;
        return JsonSerializer.SerializeToUtf8Bytes(options, Relaxed);
    }

    private static byte[] InputWithoutReasoning(ReadOnlySpan<byte> value)
    {
        var input = JsonNode.Parse(value);
        if (input is JsonArray items)
        {
            for (var i = items.Count - 1; i >= 0; i--)
            {
                if (items[i] is JsonObject item && item["type"] is JsonValue type && type.TryGetValue<string>(out var name) && name == "reasoning")
                {
                    items.RemoveAt(i);
                }
            }
        }

        return JsonSerializer.SerializeToUtf8Bytes(input, Relaxed);
    }
}
