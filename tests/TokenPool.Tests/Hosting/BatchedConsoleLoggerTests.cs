using System.Text;
using System.Text.RegularExpressions;
using TokenPool.Hosting;

namespace TokenPool.Tests.Hosting;

public sealed partial class BatchedConsoleLoggerTests
{
    private const string Timestamp = @"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ";

    [Fact]
    public void LinesFromManyThreads_AllArriveWholeAndInOrder_AndDisposeWritesTheRest()
    {
        const int Threads = 8;
        const int LinesPerThread = 2_000;
        var output = new RecordingStream();
        var provider = new BatchedConsoleLoggerProvider(output, colors: false, BatchedConsoleWriter.DefaultMaxPendingBytes);
        var logger = provider.CreateLogger("Test.Category");
        var padding = new string('x', 100) + "é€";

        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            for (var i = 0; i < LinesPerThread; i++)
            {
                logger.Log(LogLevel.Information, new EventId(4001), "thread " + t + " line " + i + " " + padding, null, static (s, _) => s);
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        provider.Dispose();

        var lines = output.Text.Split('\n');
        Assert.Equal(string.Empty, lines[^1]);
        var next = new int[Threads];
        foreach (var line in lines[..^1])
        {
            var match = RequestLine().Match(line);
            Assert.True(match.Success, "Not a whole line: " + line);
            Assert.Equal(padding, match.Groups["padding"].Value);
            var thread = int.Parse(match.Groups["thread"].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(next[thread], int.Parse(match.Groups["line"].Value, System.Globalization.CultureInfo.InvariantCulture));
            next[thread]++;
        }

        Assert.All(next, count => Assert.Equal(LinesPerThread, count));
        Assert.True(output.Writes < Threads * LinesPerThread, $"{output.Writes} writes for {Threads * LinesPerThread} lines: not batched");
    }

    [Fact]
    public void InJsonFormat_EachLineIsOneJsonObject_WithTheStructuredValuesInState()
    {
        var output = new RecordingStream();
        using (var provider = new BatchedConsoleLoggerProvider(output, colors: true, BatchedConsoleWriter.DefaultMaxPendingBytes, json: true))
        {
            var logger = provider.CreateLogger("TokenPool.Gateway.GatewayHandler");
            LogRequest(logger, "req_1", 42, "gpt-5.5", 200, 1.5);
            logger.Log(LogLevel.Error, new EventId(9001), "failed \"badly\"\nsecond line", new InvalidOperationException("boom"), static (s, _) => s);
        }

        var lines = output.Text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        using var first = System.Text.Json.JsonDocument.Parse(lines[0]);
        var root = first.RootElement;
        Assert.Equal(4001, root.GetProperty("EventId").GetInt32());
        Assert.Equal("Information", root.GetProperty("LogLevel").GetString());
        Assert.Equal("TokenPool.Gateway.GatewayHandler", root.GetProperty("Category").GetString());
        Assert.Equal("Request req_1 key 42 model gpt-5.5: 200 in 1.5 s", root.GetProperty("Message").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", root.GetProperty("Timestamp").GetString());
        var state = root.GetProperty("State");
        Assert.Equal("req_1", state.GetProperty("RequestId").GetString());
        Assert.Equal(42, state.GetProperty("KeyId").GetInt64());
        Assert.Equal(200, state.GetProperty("Status").GetInt32());
        Assert.Equal(1.5, state.GetProperty("Seconds").GetDouble());
        Assert.False(state.TryGetProperty("{OriginalFormat}", out _));

        using var second = System.Text.Json.JsonDocument.Parse(lines[1]);
        Assert.Equal("failed \"badly\"\nsecond line", second.RootElement.GetProperty("Message").GetString());
        Assert.Contains("boom", second.RootElement.GetProperty("Exception").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("\x1B", output.Text, StringComparison.Ordinal);
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Request {RequestId} key {KeyId} model {Model}: {Status} in {Seconds} s")]
    private static partial void LogRequest(ILogger logger, string requestId, long keyId, string model, int status, double seconds);

    [Fact]
    public void ALine_HasSimpleConsoleSingleLineShape_WithTheExceptionOnTheSameLine()
    {
        var output = new RecordingStream();
        using (var provider = new BatchedConsoleLoggerProvider(output, colors: false, BatchedConsoleWriter.DefaultMaxPendingBytes))
        {
            var logger = provider.CreateLogger("TokenPool.Errors");
            logger.LogInformation(new EventId(7), "first\nsecond");
            logger.Log(LogLevel.Error, new EventId(9001), "Unhandled error for request r1", new InvalidOperationException("went wrong"), static (s, _) => s);
        }

        var lines = output.Text.Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.Matches("^" + Timestamp + @"info: TokenPool\.Errors\[7\] first second$", lines[0]);
        Assert.Matches("^" + Timestamp + @"fail: TokenPool\.Errors\[9001\] Unhandled error for request r1 System\.InvalidOperationException: went wrong$", lines[1]);
        var stamp = DateTime.ParseExact(lines[0][..24], "yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal | System.Globalization.DateTimeStyles.AssumeUniversal);
        Assert.InRange(stamp, DateTime.UtcNow.AddMinutes(-1), DateTime.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task ALine_IsWrittenWithinMilliseconds_WhenTheProcessIsIdle()
    {
        var output = new RecordingStream();
        using var provider = new BatchedConsoleLoggerProvider(output, colors: false, BatchedConsoleWriter.DefaultMaxPendingBytes);

        provider.CreateLogger("Microsoft.Hosting.Lifetime").LogInformation("Now listening on: http://127.0.0.1:5000");

        var deadline = DateTime.UtcNow.AddSeconds(2);
        while (!output.Text.Contains("Now listening on", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(5);
        }

        Assert.Contains("info: Microsoft.Hosting.Lifetime[0] Now listening on: http://127.0.0.1:5000\n", output.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void WhenStdoutIsStuck_LinesBeyondTheBufferAreDroppedAndCounted_NotBlockedForever()
    {
        const int Lines = 20;
        var output = new RecordingStream { Blocked = true };
        var provider = new BatchedConsoleLoggerProvider(output, colors: false, maxPendingBytes: 4_096);
        var logger = provider.CreateLogger("Test.Category");
        var padding = new string('y', 400);

        var started = DateTime.UtcNow;
        for (var i = 0; i < Lines; i++)
        {
            logger.LogInformation("line {Number} {Padding}", i, padding);
        }

        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), "Logging blocked on stuck stdout.");
        output.Release();
        provider.Dispose();

        var written = output.Text.Split('\n').Count(l => l.Contains(" line ", StringComparison.Ordinal));
        Assert.InRange(written, 1, Lines - 1);
        Assert.Contains($"warn: TokenPool.Hosting.BatchedConsoleWriter[9002] {Lines - written} log lines were dropped", output.Text, StringComparison.Ordinal);
    }

    [GeneratedRegex(@"^" + Timestamp + @"info: Test\.Category\[4001\] thread (?<thread>\d+) line (?<line>\d+) (?<padding>.*)$")]
    private static partial Regex RequestLine();

    /// <summary>Collects what was written; can hold every write until released, like a pipe nobody reads.</summary>
    private sealed class RecordingStream : Stream
    {
        private readonly MemoryStream _bytes = new();
        private readonly ManualResetEventSlim _open = new(true);

        public bool Blocked
        {
            init
            {
                if (value)
                {
                    _open.Reset();
                }
            }
        }

        public int Writes { get; private set; }

        public string Text
        {
            get
            {
                lock (_bytes)
                {
                    return Encoding.UTF8.GetString(_bytes.GetBuffer(), 0, (int)_bytes.Length);
                }
            }
        }

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Release() => _open.Set();

        public override void Write(byte[] buffer, int offset, int count)
        {
            _open.Wait(TimeSpan.FromSeconds(30));
            lock (_bytes)
            {
                Writes++;
                _bytes.Write(buffer, offset, count);
            }
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _open.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
