namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Responses API streams as OpenAI sends them (protocols §4.1).</summary>
internal static class ResponsesTranscripts
{
    private const string Response = "\"id\":\"resp_up\",\"object\":\"response\",\"created_at\":1,\"model\":\"gpt\"";

    public static readonly byte[] ToolTurn = BridgeHarness.NamedSse(
        ("response.created", "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{" + Response + ",\"status\":\"in_progress\",\"output\":[]}}"),
        ("response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[]}}"),
        ("response.reasoning_summary_part.added", "{\"type\":\"response.reasoning_summary_part.added\",\"sequence_number\":2,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"part\":{\"type\":\"summary_text\",\"text\":\"\"}}"),
        ("response.reasoning_summary_text.delta", "{\"type\":\"response.reasoning_summary_text.delta\",\"sequence_number\":3,\"item_id\":\"rs_1\",\"output_index\":0,\"summary_index\":0,\"delta\":\"**Thinking** about it\"}"),
        ("response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":4,\"output_index\":0,\"item\":{\"type\":\"reasoning\",\"id\":\"rs_1\",\"summary\":[{\"type\":\"summary_text\",\"text\":\"**Thinking** about it\"}],\"encrypted_content\":\"gAAAAABreal\"}}"),
        ("response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":5,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}"),
        ("response.output_text.delta", "{\"type\":\"response.output_text.delta\",\"sequence_number\":6,\"item_id\":\"msg_1\",\"output_index\":1,\"content_index\":0,\"delta\":\"Running \\\"it\\\".\"}"),
        ("response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":7,\"output_index\":1,\"item\":{\"type\":\"message\",\"id\":\"msg_1\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Running \\\"it\\\".\"}]}}"),
        ("response.output_item.added", "{\"type\":\"response.output_item.added\",\"sequence_number\":8,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_abc\",\"name\":\"Bash\",\"arguments\":\"\",\"status\":\"in_progress\"}}"),
        ("response.function_call_arguments.delta", "{\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":9,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"{\\\"command\\\": \"}"),
        ("response.function_call_arguments.delta", "{\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":10,\"item_id\":\"fc_1\",\"output_index\":2,\"delta\":\"\\\"echo hi\\\"}\"}"),
        ("response.function_call_arguments.done", "{\"type\":\"response.function_call_arguments.done\",\"sequence_number\":11,\"item_id\":\"fc_1\",\"output_index\":2,\"arguments\":\"{\\\"command\\\": \\\"echo hi\\\"}\"}"),
        ("response.output_item.done", "{\"type\":\"response.output_item.done\",\"sequence_number\":12,\"output_index\":2,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_abc\",\"name\":\"Bash\",\"arguments\":\"{\\\"command\\\": \\\"echo hi\\\"}\",\"status\":\"completed\"}}"),
        ("response.completed", "{\"type\":\"response.completed\",\"sequence_number\":13,\"response\":{" + Response + ",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":120,\"input_tokens_details\":{\"cached_tokens\":64},\"output_tokens\":30,\"output_tokens_details\":{\"reasoning_tokens\":10},\"total_tokens\":150}}}"));
}
