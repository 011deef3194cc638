using System.Net;
using System.Text;
using System.Text.Json;

namespace TokenPool.IntegrationTests.Infrastructure;

/// <summary>Request builders and assertions shared by the API tests.</summary>
internal static class Api
{
    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    public static StringContent Responses(string input = "hello", bool stream = false, string model = "gpt-5.5", string extra = "") =>
        Json($$"""{"model":"{{model}}","input":{{JsonSerializer.Serialize(input)}},"stream":{{(stream ? "true" : "false")}}{{extra}}}""");

    public static StringContent Chat(string content = "hello", bool stream = false, string model = "gpt-5.5", string extra = "") =>
        Json($$"""{"model":"{{model}}","messages":[{"role":"user","content":{{JsonSerializer.Serialize(content)}}}],"stream":{{(stream ? "true" : "false")}}{{extra}}}""");

    /// <summary>Asserts an error in OpenAI's envelope with this status, code and message text; returns the error object.</summary>
    public static async Task<JsonElement> AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string? code, params string[] messageParts)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.DoesNotContain("<html", body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(body);
        var error = document.RootElement.GetProperty("error");
        foreach (var field in new[] { "message", "type", "param", "code" })
        {
            Assert.True(error.TryGetProperty(field, out _), $"The error envelope has no \"{field}\": {body}");
        }

        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        if (code is not null)
        {
            Assert.Equal(code, error.GetProperty("code").GetString());
        }

        var message = error.GetProperty("message").GetString()!;
        foreach (var part in messageParts)
        {
            Assert.Contains(part, message, StringComparison.Ordinal);
        }

        return error.Clone();
    }

    /// <summary>Reads a whole SSE body and returns each event's JSON data (without [DONE]) and whether [DONE] came.</summary>
    public static async Task<(List<JsonElement> Events, bool Done, string Raw)> ReadStreamAsync(HttpResponseMessage response)
    {
        var raw = await response.Content.ReadAsStringAsync();
        var events = raw.Split('\n')
            .Where(line => line.StartsWith("data: ", StringComparison.Ordinal) && line != "data: [DONE]")
            .Select(line => JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone())
            .ToList();
        return (events, raw.Contains("data: [DONE]", StringComparison.Ordinal), raw);
    }

    public static string? Type(this JsonElement element) => element.TryGetProperty("type", out var type) ? type.GetString() : null;

    /// <summary>Waits until the condition holds, for at most the given time.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (DateTime.UtcNow < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(25);
        }

        return condition();
    }
}
