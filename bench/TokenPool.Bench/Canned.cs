using System.Globalization;
using System.Text;

namespace TokenPool.Bench;

/// <summary>The fixed replies every upstream sends: a short, realistic Responses stream with usage at the end.</summary>
internal static class Canned
{
    public const string FixedModel = "bench-fast";
    public const string PacedModel = "bench-paced";
    public const string ModeHeader = "x-bench-mode";

    /// <summary>The ordinary streamed answer: created, 16 text deltas, done events, completed with usage.</summary>
    public static readonly string Stream = BuildStream(16);

    public static byte[] RequestBody(string model) => Encoding.UTF8.GetBytes(
        $$"""{"model":"{{model}}","stream":true,"store":false,"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Say hello."}]}],"max_output_tokens":64}""");

    public static string Created(string model) =>
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_bench\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"in_progress\",\"model\":\"" + model + "\",\"output\":[]}}\n\n";

    public static string Delta(int sequence) => string.Create(CultureInfo.InvariantCulture,
        $"event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":{sequence},\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"delta\":\" word{sequence}\"}}\n\n");

    public static string Completed(string model, int sequence, int outputTokens) => string.Create(CultureInfo.InvariantCulture,
        $"event: response.completed\ndata: {{\"type\":\"response.completed\",\"sequence_number\":{sequence},\"response\":{{\"id\":\"resp_bench\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"completed\",\"model\":\"{model}\",\"output\":[{{\"id\":\"msg_bench\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{{\"type\":\"output_text\",\"text\":\"hello\",\"annotations\":[]}}]}}],\"usage\":{{\"input_tokens\":24,\"input_tokens_details\":{{\"cached_tokens\":0}},\"output_tokens\":{outputTokens},\"output_tokens_details\":{{\"reasoning_tokens\":0}},\"total_tokens\":{24 + outputTokens}}}}}}}\n\n");

    private static string BuildStream(int deltas)
    {
        var text = new StringBuilder(Created(FixedModel));
        for (var i = 1; i <= deltas; i++)
        {
            text.Append(Delta(i));
        }

        text.Append(CultureInfo.InvariantCulture,
            $"event: response.output_text.done\ndata: {{\"type\":\"response.output_text.done\",\"sequence_number\":{deltas + 1},\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"text\":\"hello\"}}\n\n");
        text.Append(Completed(FixedModel, deltas + 2, deltas));
        return text.ToString();
    }
}
