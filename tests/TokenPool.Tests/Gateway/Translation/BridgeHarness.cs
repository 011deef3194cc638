using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.DataProtection;
using TokenPool.Gateway.Translation;

namespace TokenPool.Tests.Gateway.Translation;

/// <summary>Drives the real bridges the way the seam does: request, then the upstream's bytes in chunks, then the end.</summary>
internal static class BridgeHarness
{
    public static readonly ReasoningSeal Seal = new(new EphemeralDataProtectionProvider());

    public static readonly BridgeCatalog Catalog = new(Seal);

    public static IBridge Bridge(ApiKind client, ApiKind upstream) => Catalog.Find(client, upstream)!;

    public static BridgeOptions Options(ApiKind client, bool stream = true, bool wantsUsage = false, BridgeContext? context = null, long? limit = 4096) => new()
    {
        ClientModel = "client-model",
        UpstreamModel = "upstream-model",
        Stream = stream,
        OutputLimit = limit,
        ClientWantsUsage = wantsUsage,
        ResponseId = client switch { ApiKind.Responses => "resp_abc", ApiKind.ChatCompletions => "chatcmpl-abc", _ => "msg_abc" },
        CreatedAt = 1_795_358_646,
        Context = context,
    };

    /// <summary>Translates a client request body and returns the upstream body as JSON plus the context for the answer.</summary>
    public static (JsonElement Body, BridgeContext? Context) Request(ApiKind client, ApiKind upstream, string clientBody, bool stream = true)
    {
        var result = Bridge(client, upstream).TranslateRequest(Encoding.UTF8.GetBytes(clientBody), Options(client, stream));
        Assert.Null(result.Error);
        return (JsonDocument.Parse(result.Body!).RootElement.Clone(), result.Context);
    }

    /// <summary>Feeds the upstream bytes cut at the given offsets and returns everything the client got.</summary>
    public static string Stream(ApiKind client, ApiKind upstream, byte[] upstreamBytes, IEnumerable<int>? cuts = null, BridgeContext? context = null,
        bool wantsUsage = false, TokenPool.Gateway.ApiError? failure = null)
    {
        using var translator = Bridge(client, upstream).StartStream(Options(client, wantsUsage: wantsUsage, context: context));
        var output = new ArrayBufferWriter<byte>();
        var start = 0;
        foreach (var cut in (cuts ?? []).Order())
        {
            translator.Write(upstreamBytes.AsSpan(start, cut - start), output);
            start = cut;
        }

        translator.Write(upstreamBytes.AsSpan(start), output);
        translator.Complete(output, failure);
        Assert.True(translator.Ended);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    public static byte[] Sse(params string[] data) => Encoding.UTF8.GetBytes(string.Concat(data.Select(d => $"data: {d}\n\n")));

    public static byte[] NamedSse(params (string Name, string Data)[] events) =>
        Encoding.UTF8.GetBytes(string.Concat(events.Select(e => $"event: {e.Name}\ndata: {e.Data}\n\n")));

    /// <summary>The events of a client stream: (event name or null, data JSON or null for [DONE]).</summary>
    public static List<(string? Name, JsonElement Data)> Events(string stream)
    {
        var events = new List<(string?, JsonElement)>();
        foreach (var block in stream.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null;
            string? data = null;
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    name = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data = line[6..];
                }
            }

            Assert.NotNull(data);
            events.Add((name, data == "[DONE]" ? default : JsonDocument.Parse(data!).RootElement.Clone()));
        }

        return events;
    }

    public static string Type(this JsonElement data) => data.GetProperty("type").GetString()!;

    public static string Str(this JsonElement data, string name) => data.GetProperty(name).GetString()!;
}
