using System.Text.Json;
using System.Text.Json.Nodes;

namespace TokenPool.Simulator;

/// <summary>
/// Reads a request body as the real servers do when a key appears twice: most (Python's and Go's JSON,
/// JavaScript's <c>JSON.parse</c>) keep the last value, some the first, strict ones refuse the body.
/// A gateway that reads the body one way while its upstream reads it another can be made to hold
/// money for one output limit while the upstream honours another (issue 14): tests drive that here.
/// </summary>
internal static class JsonBody
{
    /// <summary>Parses <paramref name="text"/>; null when it is not a JSON object. Throws <see cref="DuplicateKeyException"/> under <c>reject</c>.</summary>
    public static JsonObject? Parse(string text, string? duplicates)
    {
        using var document = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 256 });
        return document.RootElement.ValueKind == JsonValueKind.Object ? (JsonObject)Convert(document.RootElement, duplicates ?? "last", "")! : null;
    }

    private static JsonNode? Convert(JsonElement element, string duplicates, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var result = new JsonObject();
                foreach (var property in element.EnumerateObject())
                {
                    if (result.ContainsKey(property.Name))
                    {
                        if (duplicates == "reject")
                        {
                            throw new DuplicateKeyException(path.Length == 0 ? property.Name : path + "." + property.Name);
                        }

                        if (duplicates == "first")
                        {
                            continue;
                        }

                        result.Remove(property.Name);
                    }

                    result[property.Name] = Convert(property.Value, duplicates, path.Length == 0 ? property.Name : path + "." + property.Name);
                }

                return result;
            case JsonValueKind.Array:
                var array = new JsonArray();
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    array.Add(Convert(item, duplicates, $"{path}[{index++}]"));
                }

                return array;
            case JsonValueKind.Null:
                return null;
            default:
                return JsonValue.Create(element.Clone());
        }
    }
}
