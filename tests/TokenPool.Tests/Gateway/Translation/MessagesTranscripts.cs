namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Anthropic Messages streams (protocols §10.4).</summary>
internal static class MessagesTranscripts
{
    public static readonly byte[] ToolTurn = BridgeHarness.NamedSse(
        ("message_start", """{"type":"message_start","message":{"id":"msg_up","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":50,"cache_read_input_tokens":100,"output_tokens":1}}}"""),
        ("ping", """{"type":"ping"}"""),
        ("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"""),
        ("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"I should run echo."}}"""),
        ("content_block_delta", """{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2lnbmF0dXJl"}}"""),
        ("content_block_stop", """{"type":"content_block_stop","index":0}"""),
        ("content_block_start", """{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"""),
        ("content_block_delta", """{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Running it."}}"""),
        ("content_block_stop", """{"type":"content_block_stop","index":1}"""),
        ("content_block_start", """{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01","name":"exec_command","input":{}}}"""),
        ("content_block_delta", """{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}"""),
        ("content_block_delta", """{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"cmd\": \"ec"}}"""),
        ("content_block_delta", """{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"ho hi\"}"}}"""),
        ("content_block_stop", """{"type":"content_block_stop","index":2}"""),
        ("message_delta", """{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}"""),
        ("message_stop", """{"type":"message_stop"}"""));
}
