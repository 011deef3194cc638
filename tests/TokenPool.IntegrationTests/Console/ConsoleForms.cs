using System.Net;
using System.Text.RegularExpressions;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>
/// Posts console forms without a browser, as a script would (for the tests that send a hundred requests): one
/// cookie jar, the antiforgery token read from the page, and the client address given by <c>X-Forwarded-For</c>
/// (tests connect from loopback, a trusted proxy).
/// </summary>
internal sealed partial class ConsoleForms : IDisposable
{
    private readonly HttpClient _client;

    public ConsoleForms(Uri address)
    {
        Cookies = new CookieContainer();
        _client = new HttpClient(new HttpClientHandler { CookieContainer = Cookies, AllowAutoRedirect = false }) { BaseAddress = address };
    }

    public CookieContainer Cookies { get; }

    public HttpClient Client => _client;

    /// <summary>Loads <paramref name="page"/> for its antiforgery token, then posts the fields to <paramref name="action"/> (the page itself by default).</summary>
    public async Task<FormAnswer> PostAsync(string page, IEnumerable<KeyValuePair<string, string>> fields, string? clientAddress = null, string? action = null)
    {
        using var get = new HttpRequestMessage(HttpMethod.Get, page);
        if (clientAddress is not null)
        {
            get.Headers.Add("X-Forwarded-For", clientAddress);
        }

        using var form = await _client.SendAsync(get);
        var html = await form.Content.ReadAsStringAsync();
        var token = TokenField().Match(html).Groups[1].Value;
        using var post = new HttpRequestMessage(HttpMethod.Post, action ?? page)
        {
            Content = new FormUrlEncodedContent([.. fields, new("__RequestVerificationToken", token)]),
        };
        if (clientAddress is not null)
        {
            post.Headers.Add("X-Forwarded-For", clientAddress);
        }

        using var response = await _client.SendAsync(post);
        return new FormAnswer(response.StatusCode, response.Headers.Location?.OriginalString, await response.Content.ReadAsStringAsync());
    }

    public void Dispose() => _client.Dispose();

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();
}

/// <summary>A console page's answer to a form: status, where it redirects, and the message it shows (error or notice).</summary>
internal sealed partial record FormAnswer(HttpStatusCode Status, string? Location, string Html)
{
    public string? Error => Message("error");

    public string? Notice => Message("notice");

    private string? Message(string testId) =>
        Regex.Match(Html, $"data-testid=\"{testId}\">([^<]*)<") is { Success: true } match ? WebUtility.HtmlDecode(match.Groups[1].Value).Trim() : null;
}
