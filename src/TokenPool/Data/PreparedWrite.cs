using System.Buffers;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace TokenPool.Data;

/// <summary>
/// A statement on the single writer, prepared once and bound by position straight into SQLite: for the writes
/// made once per request (the usage record), where binding by name through <see cref="SqliteCommand"/> costs more
/// than the insert itself. Values are stored exactly as <see cref="SqliteCommand"/> stores them (text in UTF-8,
/// dates as <c>yyyy-MM-dd HH:mm:ss.FFFFFFF</c>, booleans as 0 and 1), so EF Core reads them back unchanged.
/// Use only while holding <see cref="Database.WriteLock"/>, inside the writer's transaction.
/// </summary>
internal sealed class PreparedWrite : IDisposable
{
    private readonly sqlite3 _connection;
    private readonly sqlite3_stmt _statement;

    public PreparedWrite(SqliteConnection connection, string sql)
    {
        _connection = connection.Handle ?? throw new InvalidOperationException("The writer connection is not open.");
        Check(raw.sqlite3_prepare_v2(_connection, sql, out _statement));
    }

    /// <summary>The SQLite connection this statement was prepared on.</summary>
    public sqlite3 Handle => _connection;

    public PreparedWrite Bind(int position, long value)
    {
        Check(raw.sqlite3_bind_int64(_statement, position, value));
        return this;
    }

    public PreparedWrite Bind(int position, long? value) => value is { } known ? Bind(position, known) : BindNull(position);

    public PreparedWrite Bind(int position, bool value) => Bind(position, value ? 1L : 0L);

    public PreparedWrite Bind(int position, DateTime value)
    {
        Span<byte> text = stackalloc byte[27];
        Check(raw.sqlite3_bind_text(_statement, position, (ReadOnlySpan<byte>)text[..FormatDate(value, text)]));
        return this;
    }

    /// <summary>
    /// Writes <paramref name="value"/> as <c>yyyy-MM-dd HH:mm:ss.FFFFFFF</c> (the fraction without trailing zeros,
    /// and without its point when it is zero), as SqliteCommand stores dates; returns the bytes written (at most 27).
    /// </summary>
    internal static int FormatDate(DateTime value, Span<byte> text)
    {
        Digits(text[..4], value.Year);
        text[4] = (byte)'-';
        Digits(text.Slice(5, 2), value.Month);
        text[7] = (byte)'-';
        Digits(text.Slice(8, 2), value.Day);
        text[10] = (byte)' ';
        Digits(text.Slice(11, 2), value.Hour);
        text[13] = (byte)':';
        Digits(text.Slice(14, 2), value.Minute);
        text[16] = (byte)':';
        Digits(text.Slice(17, 2), value.Second);
        var fraction = (int)(value.Ticks % TimeSpan.TicksPerSecond);
        if (fraction == 0)
        {
            return 19;
        }

        text[19] = (byte)'.';
        Digits(text.Slice(20, 7), fraction);
        var length = 27;
        while (text[length - 1] == (byte)'0')
        {
            length--;
        }

        return length;

        static void Digits(Span<byte> into, int number)
        {
            for (var i = into.Length - 1; i >= 0; i--)
            {
                into[i] = (byte)('0' + (number % 10));
                number /= 10;
            }
        }
    }

    public PreparedWrite Bind(int position, string? value)
    {
        if (value is null)
        {
            return BindNull(position);
        }

        var most = Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = null;
        var buffer = most <= 512 ? stackalloc byte[512] : (rented = ArrayPool<byte>.Shared.Rent(most));
        try
        {
            var length = Encoding.UTF8.GetBytes(value, buffer);
            Check(raw.sqlite3_bind_text(_statement, position, (ReadOnlySpan<byte>)buffer[..length]));
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        return this;
    }

    public PreparedWrite BindNull(int position)
    {
        Check(raw.sqlite3_bind_null(_statement, position));
        return this;
    }

    /// <summary>Runs the statement and returns how many rows it changed. The bindings are cleared for the next use.</summary>
    public int Execute()
    {
        var result = raw.sqlite3_step(_statement);
        var failure = result == raw.SQLITE_DONE ? null : Failure(result);
        raw.sqlite3_reset(_statement);
        raw.sqlite3_clear_bindings(_statement);
        return failure is null ? raw.sqlite3_changes(_connection) : throw failure;
    }

    public void Dispose() => _statement.Dispose();

    private void Check(int result)
    {
        if (result != raw.SQLITE_OK)
        {
            throw Failure(result);
        }
    }

    private SqliteException Failure(int result) =>
        new(raw.sqlite3_errmsg(_connection).utf8_to_string(), result, raw.sqlite3_extended_errcode(_connection));
}
