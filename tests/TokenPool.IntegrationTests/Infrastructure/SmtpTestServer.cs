using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using MimeKit;

namespace TokenPool.IntegrationTests.Infrastructure;

/// <summary>
/// A real SMTP server on loopback for one test class: Debian's aiosmtpd, storing every message it receives in a
/// Maildir that the test reads back (<c>/usr/bin/python3 -m aiosmtpd -c aiosmtpd.handlers.Mailbox</c>).
/// </summary>
internal sealed partial class SmtpTestServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;

    private SmtpTestServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The gateway settings that send mail here.</summary>
    public Dictionary<string, string?> Settings => new()
    {
        ["Mail:Host"] = "127.0.0.1",
        ["Mail:Port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Mail:Security"] = "None",
        ["Mail:From"] = "no-reply@tokenpool.test",
    };

    public static async Task<SmtpTestServer> StartAsync()
    {
        var directory = Directory.CreateTempSubdirectory("tokenpool-mail-").FullName;
        var maildir = Path.Combine(directory, "maildir");
        var port = TestGateway.FreePort();
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            ArgumentList = { "-m", "aiosmtpd", "-n", "-l", $"127.0.0.1:{port}", "-c", "aiosmtpd.handlers.Mailbox", maildir },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start aiosmtpd.");
        var server = new SmtpTestServer(process, maildir, port);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                return server;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(100);
            }
            catch (SocketException)
            {
                var error = process.HasExited ? await process.StandardError.ReadToEndAsync() : "";
                await server.DisposeAsync();
                throw new InvalidOperationException("aiosmtpd did not start (is python3-aiosmtpd installed?): " + error);
            }
        }
    }

    /// <summary>Every message received so far.</summary>
    public List<MimeMessage> Messages()
    {
        var folder = Path.Combine(_directory, "new");
        return !Directory.Exists(folder)
            ? []
            : [.. Directory.GetFiles(folder).OrderBy(File.GetLastWriteTimeUtc).Select(path => MimeMessage.Load(path))];
    }

    /// <summary>Messages received so far for one address.</summary>
    public List<MimeMessage> MessagesTo(string address) =>
        [.. Messages().Where(m => m.To.Mailboxes.Any(b => string.Equals(b.Address, address, StringComparison.OrdinalIgnoreCase)))];

    /// <summary>Waits (at most 30 s) until <paramref name="count"/> messages for the address have arrived; returns the newest.</summary>
    public async Task<MimeMessage> WaitForAsync(string address, int count = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var messages = MessagesTo(address);
            if (messages.Count >= count)
            {
                return messages[^1];
            }

            Assert.True(DateTime.UtcNow < deadline, $"No mail number {count} for {address} within 30 s (have {messages.Count}).");
            await Task.Delay(100);
        }
    }

    /// <summary>The first console link in a message's plain-text body.</summary>
    public static string LinkIn(MimeMessage message) =>
        ConsoleLink().Match(message.TextBody ?? "") is { Success: true } match ? match.Value : throw new InvalidOperationException("No link in: " + message.TextBody);

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(Path.GetDirectoryName(_directory)!, recursive: true);
        }
        catch (IOException)
        {
            // Left to the OS temp cleaner.
        }
    }

    [GeneratedRegex(@"https?://\S+/console/\S+")]
    private static partial Regex ConsoleLink();
}
