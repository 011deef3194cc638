using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Cli;
using TokenPool.Data;
using TokenPool.Keys;

// Usage-page queries against a store holding a million usage records.
// dotnet run -c Release --project bench/UsageQueries [-- --records 1000000 --iterations 20]
// --pages also times the real page end to end (tokenpool serve, Release: build it first with ./tokenpool --help);
// --no-queries skips the store-level figures; --page-iterations N, --csv-runs N, --depth N, --tokenpool PATH.
var records = Arg("--records", 1_000_000);
var iterations = Arg("--iterations", 20);
var pages = args.Contains("--pages");
var queriesToo = !args.Contains("--no-queries");
var data = Directory.CreateTempSubdirectory("tokenpool-bench-usage-").FullName;
var invariant = CultureInfo.InvariantCulture;
try
{
    await using var store = await CliStore.OpenAsync(data, CancellationToken.None);
    var account = await store.Get<AccountService>().CreateAsync("heavy@example.com", "correct horse battery staple", AccountRole.User, 1_000_000_000, CancellationToken.None);
    var keys = new List<long>();
    for (var i = 0; i < 4; i++)
    {
        keys.Add((await store.Get<ApiKeyService>().CreateAsync(account.Id, new NewKeySettings($"key-{i}"), null, CancellationToken.None)).Row.Id);
    }

    var connectionString = store.Get<Database>().ConnectionString;
    var now = DateTime.UtcNow;
    var seeding = Stopwatch.StartNew();
    Seed(connectionString, account.Id, keys, records, now);
    seeding.Stop();
    var fileMb = new FileInfo(Path.Combine(data, "tokenpool.db")).Length / (1024.0 * 1024.0);
    Console.WriteLine(string.Create(invariant, $"Seeded {records:N0} usage records ({records / 2:N0} for the measured account, 90 days) and their daily rollup in {seeding.Elapsed.TotalSeconds:0.0} s; database {fileMb:0} MB."));

    if (pages)
    {
        var dll = TextArg("--tokenpool") ?? Path.Combine(Root(), ".build", "release", "tokenpool.dll");
        var figures = await TokenPool.Bench.UsageQueries.Pages.MeasureAsync(dll, data, "heavy@example.com", "correct horse battery staple", keys,
            Arg("--page-iterations", 20), Arg("--csv-runs", 5), Arg("--depth", 20), Console.Out);
        Console.WriteLine();
        Console.WriteLine("| Page (HTTP GET, signed in) | median ms | p95 ms | result |");
        Console.WriteLine("|---|---:|---:|---|");
        foreach (var (name, median, p95, note) in figures)
        {
            Console.WriteLine(string.Create(invariant, $"| {name} | {median:0.00} | {p95:0.00} | {note} |"));
        }

        Console.WriteLine();
    }

    if (!queriesToo)
    {
        return;
    }

    var queries = store.Get<UsageQueries>();
    var today = DateOnly.FromDateTime(now);
    var month = new UsageFilter(account.Id, now.AddDays(-30), now.AddMinutes(1));
    var middle = await queries.RecentAsync(month with { From = now.AddDays(-30), To = now.AddDays(-15) }, null, 50, CancellationToken.None);
    var results = new List<(string Name, double Median, double P95, string Note)>
    {
        await Time("Summary (balance, spend today / this month)", () => queries.SummaryAsync(account.Id, CancellationToken.None), _ => ""),
        await Time("Daily by model, 30 days", () => queries.DailyAsync(account.Id, today.AddDays(-30), today, UsageGrouping.Model, CancellationToken.None), r => $"{r.Count} points"),
        await Time("Daily by key, 90 days", () => queries.DailyAsync(account.Id, today.AddDays(-90), today, UsageGrouping.Key, CancellationToken.None), r => $"{r.Count} points"),
        await Time("Recent requests, first page of 50, 30 days", () => queries.RecentAsync(month, null, 50, CancellationToken.None), r => $"{r.Records.Count} rows"),
        await Time("Recent requests, a page from the middle (cursor)", () => queries.RecentAsync(month, middle.NextCursor, 50, CancellationToken.None), r => $"{r.Records.Count} rows"),
        await Time("Recent requests, filter key, 30 days", () => queries.RecentAsync(month with { KeyId = keys[3] }, null, 50, CancellationToken.None), r => $"{r.Records.Count} rows"),
        await Time("Recent requests, filter rare model (1%), 30 days", () => queries.RecentAsync(month with { Model = "gpt-5.4-nano" }, null, 50, CancellationToken.None), r => $"{r.Records.Count} rows"),
        await Time("Recent requests, filter failed (5%), 30 days", () => queries.RecentAsync(month with { Status = StatusFilter.Failed }, null, 50, CancellationToken.None), r => $"{r.Records.Count} rows"),
        await Time("Recent requests, model + failed + key, 7 days", () => queries.RecentAsync(new UsageFilter(account.Id, now.AddDays(-7), now.AddMinutes(1)) { Model = "gpt-5.4-mini", Status = StatusFilter.Failed, KeyId = keys[1] }, null, 50, CancellationToken.None), r => $"{r.Records.Count} rows"),
    };

    var exportRuns = new List<double>();
    long exported = 0;
    for (var i = 0; i < 3; i++)
    {
        var watch = Stopwatch.StartNew();
        await using var writer = new StreamWriter(Stream.Null);
        exported = await queries.ExportCsvAsync(month, writer, CancellationToken.None);
        exportRuns.Add(watch.Elapsed.TotalMilliseconds);
    }

    exportRuns.Sort();
    results.Add(("CSV export, 30 days, streamed", exportRuns[1], exportRuns[^1], string.Create(invariant, $"{exported:N0} rows, {exported / (exportRuns[1] / 1000):N0} rows/s (median of 3)")));

    Console.WriteLine();
    Console.WriteLine("| Query | median ms | p95 ms | result |");
    Console.WriteLine("|---|---:|---:|---|");
    foreach (var (name, median, p95, note) in results)
    {
        Console.WriteLine(string.Create(invariant, $"| {name} | {median:0.00} | {p95:0.00} | {note} |"));
    }
}
finally
{
    SqliteConnection.ClearAllPools();
    Directory.Delete(data, recursive: true);
}

async Task<(string, double, double, string)> Time<T>(string name, Func<Task<T>> query, Func<T, string> describe)
{
    var result = await query();
    var samples = new List<double>(iterations);
    for (var i = 0; i < iterations; i++)
    {
        var watch = Stopwatch.StartNew();
        result = await query();
        samples.Add(watch.Elapsed.TotalMilliseconds);
    }

    samples.Sort();
    return (name, samples[samples.Count / 2], samples[Math.Min(samples.Count - 1, (int)Math.Ceiling(samples.Count * 0.95) - 1)], describe(result));
}

string? TextArg(string name)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
}

static string Root()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "TokenPool.slnx")))
        {
            return dir.FullName;
        }
    }

    throw new InvalidOperationException("Could not find the repository root (TokenPool.slnx); pass --tokenpool PATH.");
}

int Arg(string name, int fallback)
{
    var at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}

// Half the records belong to the measured account (four keys), the rest to 99 other accounts, spread over 90 days.
static void Seed(string connectionString, long accountId, List<long> keys, int count, DateTime now)
{
    string[] models = ["gpt-5.5", "gpt-5.5", "gpt-5.5", "gpt-5.4-mini", "gpt-5.4-mini", "gpt-5.3-codex", "gpt-5.4", "gpt-5.1-codex", "gpt-5-codex"];
    var random = new Random(42);
    using var connection = new SqliteConnection(connectionString);
    connection.Open();
    using (var pragma = connection.CreateCommand())
    {
        pragma.CommandText = "PRAGMA synchronous=OFF;";
        pragma.ExecuteNonQuery();
    }

    var span = TimeSpan.FromDays(90).Ticks;
    const int batch = 50_000;
    for (var done = 0; done < count; done += batch)
    {
        using var transaction = connection.BeginTransaction();
        using var insert = connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = """
            INSERT INTO usage_records (request_id, created_at, account_id, key_id, channel_id, channel_key_id, model, endpoint, is_stream, status,
                outcome, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, is_estimated, cost_micros, charged_micros,
                input_micros_per_million, cached_input_micros_per_million, output_micros_per_million, latency_ms, first_token_ms)
            VALUES ($id, $at, $account, $key, 1, 1, $model, 'responses', 1, $status, $outcome, $in, $cached, $out, $reasoning, 0, $cost, $cost,
                1250000, 125000, 10000000, $latency, $ttft)
            """;
        var p = new[] { "$id", "$at", "$account", "$key", "$model", "$status", "$outcome", "$in", "$cached", "$out", "$reasoning", "$cost", "$latency", "$ttft" }
            .Select(n => insert.Parameters.Add(new SqliteParameter { ParameterName = n })).ToArray();
        insert.Prepare();
        for (var i = done; i < Math.Min(count, done + batch); i++)
        {
            var mine = i % 2 == 0;
            var failed = random.Next(20) == 0;
            var model = random.Next(100) == 0 ? "gpt-5.4-nano" : models[random.Next(models.Length)];
            var input = random.Next(2_000, 120_000);
            var output = failed ? 0 : random.Next(50, 4_000);
            p[0].Value = "req_" + i.ToString("x12", CultureInfo.InvariantCulture);
            p[1].Value = now.AddTicks(-(long)(random.NextDouble() * span));
            p[2].Value = mine ? accountId : 1_000 + random.Next(99);
            p[3].Value = mine ? keys[random.Next(keys.Count)] : 10_000 + random.Next(500);
            p[4].Value = model;
            p[5].Value = failed ? 502 : 200;
            p[6].Value = failed ? "upstream_error" : "completed";
            p[7].Value = failed ? 0 : input;
            p[8].Value = failed ? 0 : input / 2;
            p[9].Value = output;
            p[10].Value = output / 4;
            p[11].Value = failed ? 0 : Pricing.Cost(new TokenUsage(input, input / 2, output, output / 4), 1_250_000, 125_000, 10_000_000);
            p[12].Value = random.Next(300, 60_000);
            p[13].Value = random.Next(100, 3_000);
            insert.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    using var rollup = connection.CreateCommand();
    rollup.CommandText = """
        INSERT INTO usage_daily (day, account_id, key_id, model, requests, input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, charged_micros)
        SELECT date(created_at), account_id, key_id, model, COUNT(*), SUM(input_tokens), SUM(cached_input_tokens), SUM(output_tokens), SUM(reasoning_tokens), SUM(charged_micros)
        FROM usage_records GROUP BY date(created_at), account_id, key_id, model;
        ANALYZE;
        """;
    rollup.CommandTimeout = 600;
    rollup.ExecuteNonQuery();
}
