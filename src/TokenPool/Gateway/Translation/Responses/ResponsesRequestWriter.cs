using System.Buffers;
using System.Text.Json;
using TokenPool.Gateway.Translation.Chat;
using TokenPool.Gateway.Translation.Pivot;

namespace TokenPool.Gateway.Translation.Responses;

/// <summary>
/// Writes a <see cref="Conversation"/> as a Responses API request for a channel that serves some models only
/// through that API.
/// <list type="number">
/// <item>The upstream model, <c>store:false</c> (nothing is kept upstream) with
/// <c>include:["reasoning.encrypted_content"]</c> (so reasoning can be carried to the next turn), exactly one
/// <c>max_output_tokens</c>, <c>stream</c>.</item>
/// <item><c>instructions</c> from the leading system prompt; system messages later in the conversation stay in place
/// as <c>developer</c> messages.</item>
/// <item>Messages (<c>input_text</c>/<c>output_text</c>, <c>input_image</c>), <c>function_call</c> and
/// <c>function_call_output</c> items (a tool error is said in the text), and reasoning items this channel made before
/// (restored from TokenPool's seal with their <c>encrypted_content</c>; reasoning from other upstreams is left out).</item>
/// <item>Function tools with <c>strict</c> written out (the Responses API assumes strict schemas otherwise); a custom
/// tool as a function taking one string, <c>input</c>; <c>tool_choice</c>, <c>parallel_tool_calls</c>,
/// <c>temperature</c>, <c>top_p</c>, <c>reasoning.effort</c> (with <c>summary:"auto"</c> so the thinking can be shown),
/// <c>text.format</c>. <c>stop</c> has no Responses equivalent and is left out.</item>
/// </list>
/// </summary>
internal static class ResponsesRequestWriter
{
    private const string CustomInputSchema = """{"type":"object","properties":{"input":{"type":"string","description":"The tool's whole input, as free-form text."}},"required":["input"],"additionalProperties":false}""";

    public static byte[] Write(Conversation conversation, BridgeOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = ApiError.WriterOptions.Encoder, SkipValidation = true }))
        {
            json.WriteStartObject();
            json.WriteString("model"u8, options.UpstreamModel);
            if (conversation.Instructions.Count > 0)
            {
                json.WriteString("instructions"u8, string.Join("\n\n", conversation.Instructions));
            }

            json.WriteStartArray("input"u8);
            foreach (var item in conversation.Items)
            {
                WriteItem(json, item);
            }

            json.WriteEndArray();
            if (conversation.Tools.Count > 0)
            {
                json.WriteStartArray("tools"u8);
                foreach (var tool in conversation.Tools)
                {
                    json.WriteStartObject();
                    json.WriteString("type"u8, "function"u8);
                    json.WriteString("name"u8, tool.Name);
                    if (tool.Description is { Length: > 0 } description)
                    {
                        json.WriteString("description"u8, description);
                    }

                    json.WritePropertyName("parameters"u8);
                    json.WriteRawValue(tool.Kind == ToolKind.Custom ? CustomInputSchema : tool.ParametersJson ?? """{"type":"object","properties":{}}""", skipInputValidation: true);
                    json.WriteBoolean("strict"u8, tool.Strict ?? false);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                switch (conversation.ToolChoice?.Mode)
                {
                    case ToolChoiceMode.Named:
                        json.WriteStartObject("tool_choice"u8);
                        json.WriteString("type"u8, "function"u8);
                        json.WriteString("name"u8, conversation.ToolChoice.Name);
                        json.WriteEndObject();
                        break;
                    case { } mode:
                        json.WriteString("tool_choice"u8, mode switch { ToolChoiceMode.None => "none", ToolChoiceMode.Required => "required", _ => "auto" });
                        break;
                }

                if (conversation.ParallelToolCalls is { } parallel)
                {
                    json.WriteBoolean("parallel_tool_calls"u8, parallel);
                }
            }

            if (options.OutputLimit is { } limit)
            {
                json.WriteNumber("max_output_tokens"u8, limit);
            }

            if (conversation.Temperature is { } temperature)
            {
                json.WriteNumber("temperature"u8, temperature);
            }

            if (conversation.TopP is { } topP)
            {
                json.WriteNumber("top_p"u8, topP);
            }

            if (!options.OmitReasoningEffort && conversation.Effort is { } effort)
            {
                json.WriteStartObject("reasoning"u8);
                json.WriteString("effort"u8, effort == "max" ? "xhigh" : effort);
                if (effort != "none")
                {
                    json.WriteString("summary"u8, "auto"u8);
                }

                json.WriteEndObject();
            }

            if (conversation.Format is { } format)
            {
                json.WriteStartObject("text"u8);
                json.WriteStartObject("format"u8);
                json.WriteString("type"u8, format.Type);
                if (format.Type == "json_schema")
                {
                    json.WriteString("name"u8, format.Name ?? "output");
                    if (format.SchemaJson is { } schema)
                    {
                        json.WritePropertyName("schema"u8);
                        json.WriteRawValue(schema, skipInputValidation: true);
                    }

                    if (format.Strict is { } strict)
                    {
                        json.WriteBoolean("strict"u8, strict);
                    }
                }

                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteBoolean("store"u8, false);
            json.WriteStartArray("include"u8);
            json.WriteStringValue("reasoning.encrypted_content"u8);
            json.WriteEndArray();
            json.WriteBoolean("stream"u8, options.Stream);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteItem(Utf8JsonWriter json, ConversationItem item)
    {
        switch (item)
        {
            case MessageItem message:
                json.WriteStartObject();
                json.WriteString("type"u8, "message"u8);
                json.WriteString("role"u8, message.Role switch { ItemRole.System => "developer", ItemRole.Assistant => "assistant", _ => "user" });
                json.WriteStartArray("content"u8);
                foreach (var part in message.Content)
                {
                    json.WriteStartObject();
                    if (part is ImagePart image)
                    {
                        json.WriteString("type"u8, "input_image"u8);
                        json.WriteString("image_url"u8, image.Url);
                        json.WriteString("detail"u8, image.Detail ?? "auto");
                    }
                    else
                    {
                        json.WriteString("type"u8, message.Role == ItemRole.Assistant ? "output_text"u8 : "input_text"u8);
                        json.WriteString("text"u8, ((TextPart)part).Text);
                    }

                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteEndObject();
                break;
            case ToolCallItem call:
                json.WriteStartObject();
                json.WriteString("type"u8, "function_call"u8);
                json.WriteString("call_id"u8, call.CallId);
                json.WriteString("name"u8, call.Name);
                json.WriteString("arguments"u8, call.Kind == ToolKind.Custom ? ChatRequestWriter.CustomArguments(call.Arguments) : call.Arguments);
                json.WriteEndObject();
                break;
            case ToolResultItem result:
                json.WriteStartObject();
                json.WriteString("type"u8, "function_call_output"u8);
                json.WriteString("call_id"u8, result.CallId);
                json.WriteString("output"u8, (result.IsError ? "Error: " : "") + ChatRequestWriter.JoinText(result.Output));
                json.WriteEndObject();
                break;
            case ReasoningItem { Carry: { Origin: ReasoningOrigin.Responses, Blob: { } blob } carry }:
                json.WriteStartObject();
                json.WriteString("type"u8, "reasoning"u8);
                json.WriteStartArray("summary"u8);
                if (carry.Text.Length > 0)
                {
                    json.WriteStartObject();
                    json.WriteString("type"u8, "summary_text"u8);
                    json.WriteString("text"u8, carry.Text);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
                json.WriteString("encrypted_content"u8, blob);
                json.WriteEndObject();
                break;
        }
    }
}
