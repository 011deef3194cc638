using System.Text.Json;
using TokenPool.Gateway.Translation.Chat;
using TokenPool.Gateway.Translation.Messages;
using TokenPool.Gateway.Translation.Pivot;
using TokenPool.Gateway.Translation.Responses;

namespace TokenPool.Gateway.Translation;

/// <summary>
/// A bridge between two different APIs through the pivot model: every API has one reader and one writer for
/// requests (<see cref="Conversation"/>), one upstream stream reader and one client stream writer for answers
/// (<see cref="IReplySink"/>), and one whole-body reader and writer. A bridge from A to B is A's request reader with
/// B's request writer, then B's answer reader with A's answer writer, so a fourth API is one reader and one
/// writer of each kind, not a bridge to every other API.
/// <list type="number">
/// <item>Request: parse the client's body once (a DOM: it runs once per request), read it into a conversation,
/// write the upstream's body (its model, one output limit, a usage request on streams, <c>store:false</c> for
/// Responses upstreams), and note what the answer's translation needs (<see cref="BridgeContext"/>).</item>
/// <item>Stream: the upstream reader calls the client writer event by event as chunks arrive.</item>
/// <item>Whole answer: the upstream body is read into a <see cref="ReplyCollector"/> and written in the client's shape.</item>
/// </list>
/// </summary>
internal sealed class TranslationBridge(ApiKind client, ApiKind upstream, ReasoningSeal seal) : IBridge
{
    public ApiKind Client { get; } = client;

    public ApiKind Upstream { get; } = upstream;

    public BridgeRequest TranslateRequest(ReadOnlySpan<byte> clientBody, BridgeOptions options)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(clientBody.ToArray(), new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            return BridgeRequest.Refused(GatewayErrors.InvalidJson($"line {ex.LineNumber + 1}, position {ex.BytePositionInLine + 1}"));
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return BridgeRequest.Refused(GatewayErrors.InvalidJson("the body is not a JSON object"));
            }

            var (conversation, error, tools) = Client switch
            {
                ApiKind.Responses => ResponsesRequestReader.Read(document.RootElement, seal),
                ApiKind.ChatCompletions => ChatRequestReader.Read(document.RootElement, seal),
                _ => MessagesRequestReader.Read(document.RootElement, seal),
            };
            if (error is not null)
            {
                return BridgeRequest.Refused(error);
            }

            var body = Upstream switch
            {
                ApiKind.ChatCompletions => ChatRequestWriter.Write(conversation!, options),
                ApiKind.Responses => ResponsesRequestWriter.Write(conversation!, options),
                _ => MessagesRequestWriter.Write(conversation!, options),
            };
            var images = conversation!.Items.Sum(item => item switch
            {
                MessageItem message => message.Content.Count(part => part is ImagePart),
                ToolResultItem result => result.Output.Count(part => part is ImagePart),
                _ => 0,
            });
            var (bound, estimate) = BridgeContext.InputBounds(body.Length, images);
            return new BridgeRequest(body, null)
            {
                Context = new BridgeContext(tools, conversation.Stop)
                {
                    InputTokenBound = bound,
                    EstimatedInputTokens = estimate,
                    OutputTokenBound = options.OutputLimit,
                },
                Dropped = conversation.Dropped,
            };
        }
    }

    public IStreamTranslator StartStream(BridgeOptions options)
    {
        ClientStreamWriter writer = Client switch
        {
            ApiKind.Responses => new ResponsesStreamWriter(options, seal),
            ApiKind.ChatCompletions => new ChatStreamWriter(options),
            _ => new MessagesStreamWriter(options, seal),
        };
        UpstreamStreamReader reader = Upstream switch
        {
            ApiKind.ChatCompletions => new ChatStreamReader(writer, options),
            ApiKind.Responses => new ResponsesStreamReader(writer),
            _ => new MessagesStreamReader(writer),
        };
        return new StreamTranslator(reader, writer);
    }

    public byte[] TranslateResponse(ReadOnlySpan<byte> upstreamBody, BridgeOptions options)
    {
        var reply = new ReplyCollector();
        switch (Upstream)
        {
            case ApiKind.ChatCompletions:
                using (var reader = new ChatStreamReader(reply, options))
                {
                    reader.ReadWhole(upstreamBody);
                }

                break;
            case ApiKind.Responses:
                ResponsesReplyReader.Read(upstreamBody, reply);
                break;
            default:
                MessagesReplyReader.Read(upstreamBody, reply);
                break;
        }

        if (reply.UsageReported is { } usage)
        {
            reply.Usage((options.Context ?? BridgeContext.Empty).OwnUsage(usage));
        }

        return Client switch
        {
            ApiKind.Responses => ResponsesReplyWriter.Write(reply, options, seal),
            ApiKind.ChatCompletions => ChatReplyWriter.Write(reply, options),
            _ => MessagesReplyWriter.Write(reply, options, seal),
        };
    }
}
