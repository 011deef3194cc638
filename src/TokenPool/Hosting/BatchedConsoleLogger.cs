using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace TokenPool.Hosting;

/// <summary>
/// TokenPool's console logging, cheap enough for one line per API request: each line is formatted on the
/// logging thread straight into a shared UTF-8 buffer, and one background thread writes everything buffered
/// to stdout in a single write per wake-up. Lines have SimpleConsole's single-line shape
/// (<c>2026-01-02T03:04:05.678Z info: Category[4001] message</c>, exception text on the same line), or, with
/// <c>Logging:Console:FormatterName</c> set to <c>json</c>, the JSON console formatter's shape, one object per line
/// (<c>{"Timestamp","EventId","LogLevel","Category","Message","Exception","State":{…}}</c>) for log shippers.
/// Kept instead of ASP.NET Core's console logger because it costs a fraction of the CPU per line
/// (bench/RESULTS.md, "Profile and changes, 2026-11-23").
/// </summary>
[ProviderAlias("Console")]
internal sealed class BatchedConsoleLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentDictionary<string, BatchedConsoleLogger> _loggers = new(StringComparer.Ordinal);
    private readonly Lazy<BatchedConsoleWriter> _stdout;
    private readonly Lazy<BatchedConsoleWriter> _stderr;
    private readonly LogLevel _stderrThreshold;
    private readonly bool _json;

    /// <summary>Writes to stdout, and to stderr from <see cref="ConsoleLoggerOptions.LogToStandardErrorThreshold"/> up (the CLI sends everything there).</summary>
    public BatchedConsoleLoggerProvider(IOptions<ConsoleLoggerOptions> options)
        : this(
            () => new BatchedConsoleWriter(Console.OpenStandardOutput(), ConsoleColorCodes.Enabled(Console.IsOutputRedirected), BatchedConsoleWriter.DefaultMaxPendingBytes),
            () => new BatchedConsoleWriter(Console.OpenStandardError(), ConsoleColorCodes.Enabled(Console.IsErrorRedirected), BatchedConsoleWriter.DefaultMaxPendingBytes),
            options.Value.LogToStandardErrorThreshold,
            IsJson(options.Value.FormatterName))
    {
    }

    internal BatchedConsoleLoggerProvider(Stream output, bool colors, int maxPendingBytes, bool json = false)
        : this(() => new BatchedConsoleWriter(output, colors && !json, maxPendingBytes), () => throw new InvalidOperationException("No stderr in this logger."), LogLevel.None, json)
    {
    }

    private BatchedConsoleLoggerProvider(Func<BatchedConsoleWriter> stdout, Func<BatchedConsoleWriter> stderr, LogLevel stderrThreshold, bool json)
    {
        _stdout = new Lazy<BatchedConsoleWriter>(stdout);
        _stderr = new Lazy<BatchedConsoleWriter>(stderr);
        _stderrThreshold = stderrThreshold;
        _json = json;
    }

    /// <summary>Whether <c>Logging:Console:FormatterName</c> asks for JSON lines.</summary>
    public static bool IsJson(string? formatterName) => string.Equals(formatterName, "json", StringComparison.OrdinalIgnoreCase);

    public ILogger CreateLogger(string categoryName) =>
        _loggers.GetOrAdd(categoryName, static (name, provider) => new BatchedConsoleLogger(name, provider.WriterFor, force: false, provider._json), this);

    /// <summary>Writes every line still buffered, then stops the writer threads.</summary>
    public void Dispose()
    {
        if (_stdout.IsValueCreated)
        {
            _stdout.Value.Dispose();
        }

        if (_stderr.IsValueCreated)
        {
            _stderr.Value.Dispose();
        }
    }

    private BatchedConsoleWriter WriterFor(LogLevel level) => level >= _stderrThreshold && _stderrThreshold != LogLevel.None ? _stderr.Value : _stdout.Value;
}

/// <summary>One category's logger; formatting happens in <see cref="BatchedConsoleWriter.Append"/> (or <see cref="BatchedConsoleWriter.AppendJson"/>).</summary>
internal sealed class BatchedConsoleLogger(string category, Func<LogLevel, BatchedConsoleWriter> writerFor, bool force, bool json = false) : ILogger
{
    private readonly byte[] _category = Encoding.UTF8.GetBytes(category);

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (logLevel == LogLevel.None)
        {
            return;
        }

        ArgumentNullException.ThrowIfNull(formatter);
        var message = formatter(state, exception);
        if (exception is IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException })
        {
            // A taken port is the operator's situation, not a fault in TokenPool: say it without a stack trace.
            message = $"{message} {exception.Message}";
            exception = null;
        }

        if (message is null && exception is null)
        {
            return;
        }

        if (json)
        {
            writerFor(logLevel).AppendJson(logLevel, category, eventId.Id, message, exception, state as IReadOnlyList<KeyValuePair<string, object?>>, force);
            return;
        }

        writerFor(logLevel).Append(logLevel, _category, eventId.Id, message, exception, force);
    }
}

/// <summary>
/// The buffer behind <see cref="BatchedConsoleLoggerProvider"/>. Callers append formatted lines under a short
/// lock; the writer thread swaps the buffer out and writes it with one call. An idle writer is woken by the
/// first line, so it appears at once; while lines keep coming it writes every 20 ms instead of being woken for
/// each line. When the buffer holds
/// <c>maxPendingBytes</c> (stdout not keeping up), a caller waits at most 50 ms for the writer, then drops its
/// line; the number of dropped lines is logged (event 9002) as soon as the writer catches up. Dispose, process
/// exit and an unhandled exception all write out what is buffered.
/// </summary>
internal sealed partial class BatchedConsoleWriter : IDisposable
{
    public const int DefaultMaxPendingBytes = 1 << 20;

    private const int InitialBytes = 16 * 1024;
    private const int WaitWhenFullMilliseconds = 50;
    private const int BusyWriteIntervalMilliseconds = 20;
    private const int FixedBytesPerLine = 64;
    private static readonly TimeSpan FinalWriteTimeout = TimeSpan.FromSeconds(5);
    private static readonly byte[] NewLine = Encoding.UTF8.GetBytes(Environment.NewLine);
    private static readonly string[] LevelNames = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"];
    private static readonly System.Text.Json.JsonWriterOptions JsonLineOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Each logging thread's scratch buffer for one JSON line.</summary>
    private static readonly ThreadLocal<System.Buffers.ArrayBufferWriter<byte>> JsonLine = new(() => new System.Buffers.ArrayBufferWriter<byte>(1024));

    private readonly Stream _output;
    private readonly int _maxPendingBytes;
    private readonly byte[][] _levels;
    private readonly object _gate = new();
    private readonly object _writeGate = new();
    private readonly Thread _thread;
    private readonly ILogger _self;
    private byte[] _pending = new byte[InitialBytes];
    private byte[] _spare = new byte[InitialBytes];
    private int _pendingLength;
    private long _dropped;
    private bool _writerIdle;
    private bool _stopping;
    private bool _stopped;

    public BatchedConsoleWriter(Stream output, bool colors, int maxPendingBytes)
    {
        _output = output;
        _maxPendingBytes = maxPendingBytes;
        _levels = ConsoleColorCodes.LevelPrefixes(colors);
        _self = new BatchedConsoleLogger(typeof(BatchedConsoleWriter).FullName!, _ => this, force: true);
        _thread = new Thread(Run) { IsBackground = true, Name = "TokenPool console log writer" };
        _thread.Start();
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        AppDomain.CurrentDomain.UnhandledException += OnUnhandledException;
    }

    /// <summary>Lines dropped because the buffer was full and not yet reported.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Append(LogLevel level, byte[] category, int eventId, string? message, Exception? exception, bool force)
    {
        var exceptionText = exception?.ToString();
        var prefix = _levels[(int)level];
        var maxBytes = FixedBytesPerLine + prefix.Length + category.Length
            + ((message?.Length ?? 0) + 1) * 3 + ((exceptionText?.Length ?? 0) + 1) * 3;
        bool stopped;
        lock (_gate)
        {
            stopped = _stopped;
            if (!force && !stopped && _pendingLength > 0 && _pendingLength + maxBytes > _maxPendingBytes && !WaitForRoom(maxBytes))
            {
                _dropped++;
                return;
            }

            if (_pending.Length - _pendingLength < maxBytes)
            {
                Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + maxBytes));
            }

            _pendingLength += Format(_pending.AsSpan(_pendingLength), prefix, category, eventId, message, exceptionText);
            if (_writerIdle)
            {
                _writerIdle = false;
                Monitor.PulseAll(_gate);
            }
        }

        if (stopped)
        {
            Flush(FinalWriteTimeout);
        }
    }

    /// <summary>
    /// Appends one JSON line in the shape of ASP.NET Core's JSON console formatter. The structured values of a
    /// <c>[LoggerMessage]</c> go into <c>State</c> by name, so a shipper can index them without parsing the message.
    /// </summary>
    public void AppendJson(LogLevel level, string category, int eventId, string? message, Exception? exception,
        IReadOnlyList<KeyValuePair<string, object?>>? state, bool force)
    {
        var line = JsonLine.Value!;
        line.ResetWrittenCount();
        using (var json = new System.Text.Json.Utf8JsonWriter(line, JsonLineOptions))
        {
            json.WriteStartObject();
            json.WriteString("Timestamp"u8, DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));
            json.WriteNumber("EventId"u8, eventId);
            json.WriteString("LogLevel"u8, LevelNames[(int)level]);
            json.WriteString("Category"u8, category);
            json.WriteString("Message"u8, message ?? "");
            if (exception is not null)
            {
                json.WriteString("Exception"u8, exception.ToString());
            }

            if (state is { Count: > 0 })
            {
                json.WriteStartObject("State"u8);
                foreach (var (name, value) in state)
                {
                    if (name == "{OriginalFormat}")
                    {
                        continue;
                    }

                    switch (value)
                    {
                        case null:
                            json.WriteNull(name);
                            break;
                        case bool flag:
                            json.WriteBoolean(name, flag);
                            break;
                        case int or long or short or byte or uint or ulong or ushort:
                            json.WriteNumber(name, Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
                            break;
                        case double or float or decimal:
                            json.WriteNumber(name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture));
                            break;
                        default:
                            json.WriteString(name, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                            break;
                    }
                }

                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        var bytes = line.WrittenSpan;
        bool stopped;
        lock (_gate)
        {
            stopped = _stopped;
            var maxBytes = bytes.Length + NewLine.Length;
            if (!force && !stopped && _pendingLength > 0 && _pendingLength + maxBytes > _maxPendingBytes && !WaitForRoom(maxBytes))
            {
                _dropped++;
                return;
            }

            if (_pending.Length - _pendingLength < maxBytes)
            {
                Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + maxBytes));
            }

            bytes.CopyTo(_pending.AsSpan(_pendingLength));
            NewLine.CopyTo(_pending.AsSpan(_pendingLength + bytes.Length));
            _pendingLength += maxBytes;
            if (_writerIdle)
            {
                _writerIdle = false;
                Monitor.PulseAll(_gate);
            }
        }

        if (stopped)
        {
            Flush(FinalWriteTimeout);
        }
    }

    /// <summary>Writes everything buffered now, on this thread; gives up after <paramref name="timeout"/> if a write is stuck.</summary>
    public void Flush(TimeSpan timeout)
    {
        if (Monitor.TryEnter(_writeGate, timeout))
        {
            try
            {
                WriteBuffered();
            }
            finally
            {
                Monitor.Exit(_writeGate);
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_stopping)
            {
                return;
            }

            _stopping = true;
            Monitor.PulseAll(_gate);
        }

        _thread.Join(FinalWriteTimeout);
        lock (_gate)
        {
            _stopped = true;
        }

        Flush(FinalWriteTimeout);
        ReportDropped();
        Flush(FinalWriteTimeout);
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        AppDomain.CurrentDomain.UnhandledException -= OnUnhandledException;
    }

    private static int Format(Span<byte> destination, byte[] level, byte[] category, int eventId, string? message, string? exceptionText)
    {
        var length = WriteTimestamp(destination, DateTime.UtcNow);
        level.CopyTo(destination[length..]);
        length += level.Length;
        destination[length++] = (byte)':';
        destination[length++] = (byte)' ';
        category.CopyTo(destination[length..]);
        length += category.Length;
        destination[length++] = (byte)'[';
        eventId.TryFormat(destination[length..], out var written, default, System.Globalization.CultureInfo.InvariantCulture);
        length += written;
        destination[length++] = (byte)']';
        length += WriteOnOneLine(destination[length..], message);
        length += WriteOnOneLine(destination[length..], exceptionText);
        NewLine.CopyTo(destination[length..]);
        return length + NewLine.Length;
    }

    private static int WriteOnOneLine(Span<byte> destination, string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return 0;
        }

        destination[0] = (byte)' ';
        var length = 1;
        var rest = text.AsSpan();
        while (true)
        {
            var end = rest.IndexOf(Environment.NewLine, StringComparison.Ordinal);
            if (end < 0)
            {
                return length + Encoding.UTF8.GetBytes(rest, destination[length..]);
            }

            length += Encoding.UTF8.GetBytes(rest[..end], destination[length..]);
            destination[length++] = (byte)' ';
            rest = rest[(end + Environment.NewLine.Length)..];
        }
    }

    private static int WriteTimestamp(Span<byte> destination, DateTime now)
    {
        Digits(destination, now.Year, 4);
        destination[4] = (byte)'-';
        Digits(destination[5..], now.Month, 2);
        destination[7] = (byte)'-';
        Digits(destination[8..], now.Day, 2);
        destination[10] = (byte)'T';
        Digits(destination[11..], now.Hour, 2);
        destination[13] = (byte)':';
        Digits(destination[14..], now.Minute, 2);
        destination[16] = (byte)':';
        Digits(destination[17..], now.Second, 2);
        destination[19] = (byte)'.';
        Digits(destination[20..], now.Millisecond, 3);
        destination[23] = (byte)'Z';
        destination[24] = (byte)' ';
        return 25;
    }

    private static void Digits(Span<byte> destination, int value, int count)
    {
        for (var i = count - 1; i >= 0; i--)
        {
            destination[i] = (byte)('0' + (value % 10));
            value /= 10;
        }
    }

    private bool WaitForRoom(int maxBytes)
    {
        var deadline = Environment.TickCount64 + WaitWhenFullMilliseconds;
        while (_pendingLength > 0 && _pendingLength + maxBytes > _maxPendingBytes)
        {
            var remaining = deadline - Environment.TickCount64;
            if (remaining <= 0 || _stopped)
            {
                return false;
            }

            Monitor.Wait(_gate, (int)remaining);
        }

        return true;
    }

    private void Run()
    {
        var busy = false;
        while (true)
        {
            lock (_gate)
            {
                if (busy)
                {
                    if (!_stopping && _pendingLength < _maxPendingBytes / 2)
                    {
                        Monitor.Wait(_gate, BusyWriteIntervalMilliseconds);
                    }
                }
                else
                {
                    while (_pendingLength == 0 && !_stopping)
                    {
                        _writerIdle = true;
                        Monitor.Wait(_gate);
                    }

                    _writerIdle = false;
                }

                if (_pendingLength == 0)
                {
                    if (_stopping)
                    {
                        return;
                    }

                    busy = false;
                    continue;
                }
            }

            lock (_writeGate)
            {
                WriteBuffered();
            }

            ReportDropped();
            busy = true;
        }
    }

    private void WriteBuffered()
    {
        byte[] batch;
        int length;
        lock (_gate)
        {
            batch = _pending;
            length = _pendingLength;
            if (length == 0)
            {
                return;
            }

            _pending = _spare;
            _spare = batch;
            _pendingLength = 0;
            Monitor.PulseAll(_gate);
        }

        try
        {
            _output.Write(batch, 0, length);
            _output.Flush();
        }
        catch (IOException)
        {
            // stdout is gone (closed pipe); there is nowhere left to write logs.
        }
        catch (ObjectDisposedException)
        {
            // Same: stdout was closed.
        }
    }

    private void ReportDropped()
    {
        var dropped = Interlocked.Exchange(ref _dropped, 0);
        if (dropped > 0)
        {
            LogLinesDropped(_self, dropped);
        }
    }

    private void OnProcessExit(object? sender, EventArgs e) => Flush(FinalWriteTimeout);

    private void OnUnhandledException(object? sender, UnhandledExceptionEventArgs e) => Flush(FinalWriteTimeout);

    [LoggerMessage(EventId = 9002, Level = LogLevel.Warning,
        Message = "{Count} log lines were dropped because stdout was not keeping up; the lines after this one are complete again")]
    private static partial void LogLinesDropped(ILogger logger, long count);
}

/// <summary>SimpleConsole's level names and ANSI colours, precomputed as UTF-8.</summary>
internal static class ConsoleColorCodes
{
    private const string DefaultForeground = "\x1B[39m\x1B[22m";
    private const string DefaultBackground = "\x1B[49m";

    /// <summary>Colours as SimpleConsole decides by default: only on a terminal, unless redirection is explicitly allowed.</summary>
    public static bool Enabled(bool redirected)
    {
        if (Environment.GetEnvironmentVariable("NO_COLOR") is { Length: > 0 })
        {
            return false;
        }

        var allow = Environment.GetEnvironmentVariable("DOTNET_SYSTEM_CONSOLE_ALLOW_ANSI_COLOR_REDIRECTION");
        return allow is "1" || string.Equals(allow, "true", StringComparison.OrdinalIgnoreCase) || !redirected;
    }

    /// <summary>The level prefix for each <see cref="LogLevel"/> value (index = level), e.g. <c>info</c>.</summary>
    public static byte[][] LevelPrefixes(bool colors)
    {
        string[] names = ["trce", "dbug", "info", "warn", "fail", "crit", ""];
        string[] foregrounds = ["\x1B[37m", "\x1B[37m", "\x1B[32m", "\x1B[1m\x1B[33m", "\x1B[30m", "\x1B[1m\x1B[37m", ""];
        string[] backgrounds = ["\x1B[40m", "\x1B[40m", "\x1B[40m", "\x1B[40m", "\x1B[41m", "\x1B[41m", ""];
        var prefixes = new byte[names.Length][];
        for (var i = 0; i < names.Length; i++)
        {
            var text = colors && names[i].Length > 0
                ? backgrounds[i] + foregrounds[i] + names[i] + DefaultForeground + DefaultBackground
                : names[i];
            prefixes[i] = Encoding.UTF8.GetBytes(text);
        }

        return prefixes;
    }
}
