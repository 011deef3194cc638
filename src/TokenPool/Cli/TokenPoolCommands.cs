using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using TokenPool.Accounts;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Hosting;
using TokenPool.Keys;
using TokenPool.Simulator;
using TokenPool.Upstreams;

namespace TokenPool.Cli;

/// <summary>The <c>tokenpool</c> command line: the server, the simulator, and the operator verbs.</summary>
internal static class TokenPoolCommands
{
    private static readonly Option<string?> Data = new("--data")
    {
        Description = "Data directory (SQLite database and secrets). Default: $TOKENPOOL_DATA, else ./data",
        Recursive = true,
    };

    private static readonly Option<string?> DatabaseFlag = new("--database")
    {
        Description = "The database: an Npgsql connection string or postgres:// URL selects PostgreSQL. Default: $TOKENPOOL_DATABASE, else SQLite in the data directory",
        Recursive = true,
    };

    private static readonly Option<string?> Secrets = new("--secrets")
    {
        Description = "Folder of the deployment's key material, shared by every instance. Default: $TOKENPOOL_SECRETS, else secrets/ in the data directory",
        Recursive = true,
    };

    private static readonly Option<string?> Redis = new("--redis")
    {
        Description = "Redis for limits and affinity shared across instances (StackExchange.Redis configuration, e.g. 127.0.0.1:6379). Default: $TOKENPOOL_REDIS, else none",
        Recursive = true,
    };

    public static RootCommand Create()
    {
        var root = new RootCommand("TokenPool: an OpenAI-compatible API gateway for coding agents.");
        root.Options.Add(Data);
        root.Options.Add(DatabaseFlag);
        root.Options.Add(Secrets);
        root.Options.Add(Redis);
        root.Subcommands.Add(Serve());
        root.Subcommands.Add(MigrateCommand());
        root.Subcommands.Add(StoreCommands());
        root.Subcommands.Add(Simulate());
        root.Subcommands.Add(ChannelCommands());
        root.Subcommands.Add(UserCommands());
        root.Subcommands.Add(KeyCommands());
        root.Subcommands.Add(ModelCommands());
        root.Subcommands.Add(DoctorCommand());
        return root;
    }

    private static Command Serve()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var noMigrate = new Option<bool>("--no-migrate") { Description = "Do not apply pending migrations on start; refuse to start when one is due (run `tokenpool migrate`)" };
        var command = new Command("serve", "Run the TokenPool server (API, console and docs)") { urls, noMigrate };
        command.SetAction((parse, cancellationToken) =>
        {
            var overrides = Flags(parse).Overrides();
            if (parse.GetValue(noMigrate))
            {
                overrides["Store:MigrateOnStart"] = "false";
            }

            return TokenPoolServer.RunAsync(
                new ServeSettings(parse.GetValue(urls)!, TokenPoolConfiguration.ResolveDataDirectory(parse.GetValue(Data))) { Overrides = overrides },
                cancellationToken);
        });
        return command;
    }

    private static Command Simulate()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen", DefaultValueFactory = _ => "http://127.0.0.1:9090" };
        var apiKey = new Option<string?>("--api-key") { Description = "Accept only this key (any key when not set; a key 'sim;flavor=vllm;no_usage' then chooses per channel)" };
        var models = new Option<string?>("--models") { Description = "Comma-separated models to serve (any when not set)" };
        var flavor = new Option<string>("--flavor") { Description = $"The server to imitate: {SimulatorFlavors.Names}", DefaultValueFactory = _ => "openai" };
        var behaviour = new Option<string?>("--defaults") { Description = "Behaviour for requests that ask for none, e.g. 'agent' or 'no_usage delay_headers_ms=500'" };
        var controlToken = new Option<string?>("--control-token")
        {
            Description = "Serve the request log and fault controls under /_sim/ to this bearer token (also TOKENPOOL_SIM_CONTROL_TOKEN); without one they answer 404",
        };
        var failRate = new Option<double>("--fail-rate") { Description = "Share of requests (0 to 1) answered with --fail-status" };
        var failStatus = new Option<int>("--fail-status") { Description = "Status for failed requests", DefaultValueFactory = _ => 500 };
        var stallRate = new Option<double>("--stall-rate") { Description = "Share of requests (0 to 1) that never get an answer" };
        var command = new Command("simulate", "Run a simulated upstream (OpenAI, vLLM, Ollama, DeepSeek, SGLang or Anthropic wire format; no account, no network)")
        {
            urls, apiKey, models, flavor, behaviour, controlToken, failRate, failStatus, stallRate,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (SimulatorFlavors.Parse(parse.GetValue(flavor)) is not { } chosen)
            {
                await Console.Error.WriteLineAsync($"Unknown --flavor '{parse.GetValue(flavor)}'. Use one of: {SimulatorFlavors.Names}.");
                return 2;
            }

            var token = parse.GetValue(controlToken) ?? Environment.GetEnvironmentVariable("TOKENPOOL_SIM_CONTROL_TOKEN");
            await using var host = await SimulatorHost.StartAsync(new SimulatorOptions
            {
                Urls = parse.GetValue(urls)!,
                ApiKey = parse.GetValue(apiKey),
                Models = UpstreamPool.SplitList(parse.GetValue(models)).ToList(),
                Flavor = chosen,
                Defaults = parse.GetValue(behaviour),
                ControlToken = string.IsNullOrWhiteSpace(token) ? null : token,
                Faults = new FaultProfile(parse.GetValue(failRate), parse.GetValue(failStatus), parse.GetValue(stallRate)),
            }, cancellationToken);
            Console.WriteLine($"Simulated {chosen.Name()} upstream listening on {host.Address} (base URL {host.BaseUrl}). Press Ctrl+C to stop.");
            Console.WriteLine(string.IsNullOrWhiteSpace(token)
                ? "The request log (/_sim/requests) is off; start with --control-token to read it."
                : "The request log is at /_sim/requests for the control token.");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }

            return 0;
        });
        return command;
    }

    private static Command ChannelCommands()
    {
        var channel = new Command("channel", "Upstream channels: provider accounts that serve models");

        var name = new Option<string>("--name") { Description = "A name for the channel", Required = true };
        var baseUrl = new Option<string>("--base-url") { Description = "The upstream API root, e.g. https://api.openai.com/v1", Required = true };
        var apiKey = new Option<string>("--api-key") { Description = "The upstream API key (stored encrypted)", Required = true };
        var models = new Option<string>("--models") { Description = "Comma-separated models it serves, e.g. gpt-5.5,gpt-5.4-nano", Required = true };
        var wire = new Option<string>("--wire")
        {
            Description = "The APIs the upstream itself serves, comma-separated: responses, chat, messages. "
                + "OpenAI and Azure serve responses,chat (the default); vLLM, Ollama and DeepSeek serve chat",
            DefaultValueFactory = _ => "responses,chat",
        };
        var priority = new Option<int>("--priority") { Description = "Higher is used first" };
        var weight = new Option<int>("--weight") { Description = "Share of traffic among channels of equal priority", DefaultValueFactory = _ => 1 };
        var aliases = new Option<string?>("--aliases") { Description = "Comma-separated client=upstream model names, e.g. gpt-5.5=gpt-5.5-2026-04" };
        var connectTimeout = new Option<int?>("--connect-timeout") { Description = "Seconds to connect to the upstream (default: the server's Upstreams:ConnectTimeoutSeconds)" };
        var headersTimeout = new Option<int?>("--headers-timeout") { Description = "Seconds to wait for the upstream's response headers (default: Upstreams:ResponseHeadersTimeoutSeconds)" };
        var idleTimeout = new Option<int?>("--idle-timeout") { Description = "Seconds a stream may stay silent (default: Upstreams:StreamIdleTimeoutSeconds)" };
        var totalTimeout = new Option<int?>("--total-timeout") { Description = "Seconds a whole request may take (default: Upstreams:TotalTimeoutSeconds)" };
        var add = new Command("add", "Add a channel") { name, baseUrl, apiKey, models, wire, priority, weight, aliases, connectTimeout, headersTimeout, idleTimeout, totalTimeout };
        add.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var created = await store.Get<ChannelService>().AddAsync(
                new ChannelSettings(
                    parse.GetValue(name)!,
                    parse.GetValue(baseUrl)!,
                    UpstreamPool.SplitList(parse.GetValue(models)).ToList(),
                    WireSet.TryParse(parse.GetValue(wire), out var wires, out var wireError) ? wires : throw new ChannelActionException(wireError!),
                    parse.GetValue(priority),
                    parse.GetValue(weight),
                    parse.GetValue(aliases),
                    parse.GetValue(connectTimeout),
                    parse.GetValue(headersTimeout),
                    parse.GetValue(idleTimeout),
                    parse.GetValue(totalTimeout)),
                parse.GetValue(apiKey)!,
                cancellationToken);
            var unpriced = UpstreamPool.SplitList(created.Models).Where(m => store.Get<PriceCatalog>().All.Count > 0 && !store.Get<PriceCatalog>().All.ContainsKey(m)).ToList();
            Console.WriteLine($"Added channel {created.Id} \"{created.Name}\" serving {created.Models}.");
            if (unpriced.Count > 0)
            {
                await Console.Error.WriteLineAsync($"Note: no price is set for {string.Join(", ", unpriced)}; set one with `tokenpool model set` before clients can use it.");
            }
        }));

        var list = new Command("list", "List channels (upstream keys are never shown, only their last four characters)");
        list.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var channels = await store.Get<ChannelService>().ListAsync(cancellationToken);
            if (channels.Count == 0)
            {
                Console.WriteLine("No channels. Until one is added, the server answers through the built-in simulated upstream.");
                return;
            }

            Console.WriteLine($"{"ID",-4} {"NAME",-20} {"WIRE",-15} {"PRI",4} {"WT",3} {"STATE",-8} {"KEYS",-24} {"BASE URL",-36} MODELS");
            foreach (var c in channels)
            {
                var keys = string.Join(",", c.Keys.Select(k => $"…{k.Last4}{(k.IsEnabled ? "" : "(off)")}"));
                Console.WriteLine($"{c.Id,-4} {c.Name,-20} {c.Wire,-15} {c.Priority,4} {c.Weight,3} {(c.IsEnabled ? "enabled" : "disabled"),-8} {keys,-24} {c.BaseUrl,-36} {c.Models}{(c.ModelAliases is null ? "" : $" (aliases {c.ModelAliases})")}");
            }
        }));

        var target = new Option<string>("--channel") { Description = "Channel name or id", Required = true };
        var keyValue = new Option<string>("--api-key") { Description = "The upstream API key to add", Required = true };
        var keyWeight = new Option<int>("--weight") { Description = "Share of the channel's traffic", DefaultValueFactory = _ => 1 };
        var addKey = new Command("add-key", "Add another upstream key to a channel") { target, keyValue, keyWeight };
        addKey.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var found = await FindChannelAsync(store, parse.GetValue(target)!, cancellationToken);
            var key = await store.Get<ChannelService>().AddKeyAsync(found.Id, parse.GetValue(keyValue)!, parse.GetValue(keyWeight), cancellationToken);
            Console.WriteLine($"Added key {key.Id} (…{key.Last4}) to channel \"{found.Name}\".");
        }));

        var which = new Option<string>("--name") { Description = "Channel name or id", Required = true };
        Command Toggle(string verb, string description, Func<CliStore, Channel, CancellationToken, Task> act)
        {
            var command = new Command(verb, description) { which };
            command.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
            {
                var found = await FindChannelAsync(store, parse.GetValue(which)!, cancellationToken);
                await act(store, found, cancellationToken);
                Console.WriteLine($"Channel \"{found.Name}\": {verb}d.");
            }));
            return command;
        }

        channel.Subcommands.Add(add);
        channel.Subcommands.Add(list);
        channel.Subcommands.Add(addKey);
        channel.Subcommands.Add(Toggle("disable", "Stop sending requests to a channel", (s, c, t) => s.Get<ChannelService>().SetEnabledAsync(c.Id, false, t)));
        channel.Subcommands.Add(Toggle("enable", "Send requests to a channel again", (s, c, t) => s.Get<ChannelService>().SetEnabledAsync(c.Id, true, t)));
        channel.Subcommands.Add(Toggle("remove", "Delete a channel and its keys", (s, c, t) => s.Get<ChannelService>().RemoveAsync(c.Id, t)));
        return channel;
    }

    private static Command UserCommands()
    {
        var user = new Command("user", "Accounts");
        var email = new Option<string>("--email") { Description = "The account's email", Required = true };
        var password = new Option<string>("--password") { Description = "The account's password (at least 10 characters)", Required = true };
        var admin = new Option<bool>("--admin") { Description = "Make the account an admin" };
        var credit = new Option<decimal?>("--credit") { Description = "Starting credit in US dollars (default: the configured starting credit)" };
        var add = new Command("add", "Create an account") { email, password, admin, credit };
        add.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var startingCredit = parse.GetValue(credit) is { } dollars ? Money.FromDollars(dollars) : (long?)null;
            var account = await store.Get<AccountService>().CreateAsync(
                parse.GetValue(email)!, parse.GetValue(password)!, parse.GetValue(admin) ? AccountRole.Admin : AccountRole.User, startingCredit, cancellationToken);
            Console.WriteLine($"Created {(account.Role == AccountRole.Admin ? "admin" : "user")} {account.Email} (id {account.Id}) with {Money.Format(account.BalanceMicros)} credit.");
        }));

        var showEmail = new Option<string>("--email") { Description = "The account's email", Required = true };
        var show = new Command("show", "Print an account's balance and lifetime usage as one JSON object") { showEmail };
        show.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var account = await FindAccountAsync(store, parse.GetValue(showEmail)!, cancellationToken);
            await using var db = await store.Get<IDbContextFactory<TokenPoolDb>>().CreateDbContextAsync(cancellationToken);
            var totals = await db.UsageDaily.Where(d => d.AccountId == account.Id)
                .GroupBy(d => 1)
                .Select(g => new { Requests = g.Sum(d => d.Requests), Input = g.Sum(d => d.InputTokens), Cached = g.Sum(d => d.CachedInputTokens), Output = g.Sum(d => d.OutputTokens), Reasoning = g.Sum(d => d.ReasoningTokens) })
                .FirstOrDefaultAsync(cancellationToken);
            var keys = await db.ApiKeys.CountAsync(k => k.AccountId == account.Id && k.DeletedAt == null, cancellationToken);
            var json = new Dictionary<string, object?>
            {
                ["id"] = account.Id,
                ["email"] = account.Email,
                ["role"] = account.Role.ToString().ToLowerInvariant(),
                ["disabled"] = account.IsDisabled,
                ["balance_usd"] = Money.ToDollars(account.BalanceMicros),
                ["reserved_usd"] = Money.ToDollars(account.ReservedMicros),
                ["credited_usd"] = Money.ToDollars(account.CreditedMicros),
                ["cost_usd"] = Money.ToDollars(account.ChargedMicros),
                ["requests"] = totals?.Requests ?? 0,
                ["input_tokens"] = totals?.Input ?? 0,
                ["cached_input_tokens"] = totals?.Cached ?? 0,
                ["output_tokens"] = totals?.Output ?? 0,
                ["reasoning_tokens"] = totals?.Reasoning ?? 0,
                ["active_keys"] = keys,
                ["requests_per_minute_limit"] = account.RequestsPerMinute,
                ["tokens_per_minute_limit"] = account.TokensPerMinute,
                ["concurrent_requests_limit"] = account.MaxConcurrentRequests,
                ["created_at"] = account.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
            };
            Console.WriteLine(JsonSerializer.Serialize(json));
        }));

        var creditEmail = new Option<string>("--email") { Description = "The account's email", Required = true };
        var amount = new Option<decimal>("--amount") { Description = "US dollars to add (negative to remove)", Required = true };
        var reason = new Option<string>("--reason") { Description = "Why (kept in the ledger)", Required = true };
        var grant = new Command("credit", "Add or remove credit") { creditEmail, amount, reason };
        grant.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var account = await FindAccountAsync(store, parse.GetValue(creditEmail)!, cancellationToken);
            var balance = await store.Get<AccountService>().ChangeCreditAsync(account.Id, Money.FromDollars(parse.GetValue(amount)), parse.GetValue(reason)!, null, cancellationToken);
            Console.WriteLine($"{account.Email}: balance now {Money.Format(balance)}.");
        }));

        var limitsEmail = new Option<string>("--email") { Description = "The account's email", Required = true };
        var accountLimits = LimitOptions.Create();
        var limits = new Command("limits", "Show or change an account's request limits, shared by all its keys; a running server applies them to the next request") { limitsEmail };
        accountLimits.AddTo(limits);
        limits.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var account = await FindAccountAsync(store, parse.GetValue(limitsEmail)!, cancellationToken);
            var current = new RequestLimits(account.RequestsPerMinute, account.TokensPerMinute, account.MaxConcurrentRequests);
            var wanted = accountLimits.Apply(parse, current);
            if (wanted != current)
            {
                await store.Get<AccountService>().SetLimitsAsync(account.Id, wanted, null, cancellationToken);
            }

            Console.WriteLine($"{account.Email} limits: {wanted.Describe()}.");
        }));

        var passwordEmail = new Option<string>("--email") { Description = "The account's email", Required = true };
        var newPassword = new Option<string?>("--password") { Description = "The new password (at least 10 characters); left out, it is read from the first line of standard input" };
        var setPassword = new Command("password", "Set an account's password (when it cannot be reset by mail); signs out every console session of the account") { passwordEmail, newPassword };
        setPassword.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var account = await FindAccountAsync(store, parse.GetValue(passwordEmail)!, cancellationToken);
            var chosen = parse.GetValue(newPassword) ?? (await Console.In.ReadLineAsync(cancellationToken))?.TrimEnd('\r', '\n')
                ?? throw new CliException("Give the new password with --password, or on the first line of standard input.");
            await store.Get<AccountService>().SetPasswordAsync(account.Id, chosen, null, AuditKinds.PasswordSetByOperator, null, cancellationToken);
            Console.WriteLine($"Password set for {account.Email}. Every console session of the account is signed out; its API keys keep working.");
        }));

        user.Subcommands.Add(add);
        user.Subcommands.Add(setPassword);
        user.Subcommands.Add(show);
        user.Subcommands.Add(grant);
        user.Subcommands.Add(limits);
        return user;
    }

    private static Command KeyCommands()
    {
        var key = new Command("key", "API keys");
        var email = new Option<string>("--email") { Description = "The owner's email", Required = true };
        var name = new Option<string>("--name") { Description = "A name for the key, e.g. laptop", DefaultValueFactory = _ => "default" };
        var models = new Option<string?>("--models") { Description = "Comma-separated models the key may use (default: all)" };
        var expires = new Option<int?>("--expires-in-days") { Description = "Days until the key stops working" };
        var spendLimit = new Option<decimal?>("--spend-limit") { Description = "Most the key may ever spend, in US dollars" };
        var createLimits = LimitOptions.Create();
        var create = new Command("create", "Create a key and print it (alone, on stdout)") { email, name, models, expires, spendLimit };
        createLimits.AddTo(create);
        create.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var account = await FindAccountAsync(store, parse.GetValue(email)!, cancellationToken);
            var settings = new NewKeySettings(
                parse.GetValue(name)!,
                parse.GetValue(expires) is { } days ? DateTime.UtcNow.AddDays(days) : null,
                UpstreamPool.SplitList(parse.GetValue(models)).ToList() is { Count: > 0 } list ? list : null,
                parse.GetValue(spendLimit) is { } limit ? Money.FromDollars(limit) : null,
                createLimits.Apply(parse, RequestLimits.None));
            var created = await store.Get<ApiKeyService>().CreateAsync(account.Id, settings, "cli", cancellationToken);
            Console.WriteLine(created.Key);
        }));

        var listEmail = new Option<string>("--email") { Description = "The owner's email", Required = true };
        var list = new Command("list", "List an account's keys (never the whole key)") { listEmail };
        list.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var account = await FindAccountAsync(store, parse.GetValue(listEmail)!, cancellationToken);
            var keys = await store.Get<ApiKeyService>().ListAsync(account.Id, cancellationToken);
            Console.WriteLine($"{"ID",-5} {"NAME",-16} {"KEY",-22} {"CREATED",-17} {"LAST USED",-17} {"EXPIRES",-17} {"STATUS",-8} LIMITS");
            foreach (var k in keys)
            {
                Console.WriteLine($"{k.Id,-5} {k.Name,-16} {ApiKeyFormat.Mask(k.DisplayPrefix, k.Last4),-22} {When(k.CreatedAt),-17} {When(k.LastUsedAt),-17} {When(k.ExpiresAt),-17} {KeyStatus(k),-8} {KeyLimits(k).Describe()}");
            }
        }));

        var deleteEmail = new Option<string>("--email") { Description = "The owner's email", Required = true };
        var id = new Option<long>("--id") { Description = "The key's id (from key list)", Required = true };
        var delete = new Command("delete", "Delete a key; it stops working at once") { deleteEmail, id };
        delete.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var account = await FindAccountAsync(store, parse.GetValue(deleteEmail)!, cancellationToken);
            if (!await store.Get<ApiKeyService>().DeleteAsync(account.Id, parse.GetValue(id), "cli", cancellationToken))
            {
                throw new CliException($"{account.Email} has no key with id {parse.GetValue(id)}.");
            }

            Console.WriteLine($"Deleted key {parse.GetValue(id)}.");
        }));

        var limitsEmail = new Option<string>("--email") { Description = "The owner's email", Required = true };
        var limitsId = new Option<long>("--id") { Description = "The key's id (from key list)", Required = true };
        var keyLimits = LimitOptions.Create();
        var limits = new Command("limits", "Show or change a key's request limits; a running server applies them to the key's next request") { limitsEmail, limitsId };
        keyLimits.AddTo(limits);
        limits.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var account = await FindAccountAsync(store, parse.GetValue(limitsEmail)!, cancellationToken);
            var keys = store.Get<ApiKeyService>();
            var found = await keys.FindAsync(account.Id, parse.GetValue(limitsId), cancellationToken)
                ?? throw new CliException($"{account.Email} has no key with id {parse.GetValue(limitsId)}. See `tokenpool key list --email {account.Email}`.");
            var current = KeyLimits(found);
            var wanted = keyLimits.Apply(parse, current);
            if (wanted != current && !await keys.SetLimitsAsync(account.Id, found.Id, wanted, "cli", cancellationToken))
            {
                throw new CliException($"{account.Email} has no key with id {found.Id}.");
            }

            Console.WriteLine($"Key {found.Id} ({found.Name}) limits: {wanted.Describe()}.");
        }));

        key.Subcommands.Add(create);
        key.Subcommands.Add(list);
        key.Subcommands.Add(delete);
        key.Subcommands.Add(limits);
        return key;
    }

    private static Command ModelCommands()
    {
        var model = new Command("model", "The model catalogue and its prices");
        var list = new Command("list", "List models and prices (US dollars per million tokens)");
        list.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var catalogue = store.Get<PriceCatalog>();
            await catalogue.LoadAsync(cancellationToken);
            Console.WriteLine($"{"MODEL",-24} {"INPUT",10} {"CACHED",10} {"OUTPUT",10} {"RESERVE",8}");
            foreach (var p in catalogue.All.Values.OrderBy(p => p.Model, StringComparer.Ordinal))
            {
                Console.WriteLine($"{p.Model,-24} {Money.Plain(p.InputMicrosPerMillion),10} {Money.Plain(p.CachedInputMicrosPerMillion),10} {Money.Plain(p.OutputMicrosPerMillion),10} {p.ReserveOutputTokens,8}");
            }
        }));

        var name = new Option<string>("--model") { Description = "Model name as clients send it", Required = true };
        var input = new Option<decimal>("--input") { Description = "US dollars per million input tokens", Required = true };
        var cached = new Option<decimal?>("--cached-input") { Description = "US dollars per million cached input tokens (default: a tenth of input)" };
        var output = new Option<decimal>("--output") { Description = "US dollars per million output tokens (reasoning included)", Required = true };
        var reserve = new Option<int>("--reserve-output") { Description = "Output tokens reserved when a request sets no maximum", DefaultValueFactory = _ => 16_384 };
        var set = new Command("set", "Add a model or change its prices (new requests only)") { name, input, cached, output, reserve };
        set.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var price = await store.Get<PriceCatalog>().SaveAsync(new ModelPrice
            {
                Model = parse.GetValue(name)!.Trim(),
                InputMicrosPerMillion = Money.FromDollars(parse.GetValue(input)),
                CachedInputMicrosPerMillion = Money.FromDollars(parse.GetValue(cached) ?? parse.GetValue(input) / 10),
                OutputMicrosPerMillion = Money.FromDollars(parse.GetValue(output)),
                ReserveOutputTokens = parse.GetValue(reserve),
            }, cancellationToken);
            Console.WriteLine($"{price.Model}: input {Money.Format(price.InputMicrosPerMillion)}, cached {Money.Format(price.CachedInputMicrosPerMillion)}, output {Money.Format(price.OutputMicrosPerMillion)} per million tokens.");
        }));

        model.Subcommands.Add(list);
        model.Subcommands.Add(set);
        return model;
    }

    private static Command MigrateCommand()
    {
        var command = new Command("migrate", "Create the database or bring it up to date (serve does this on start unless --no-migrate)");
        command.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, store =>
        {
            var where = store.Get<StoreConnection>().Describe();
            Console.WriteLine(store.AppliedMigrations.Count == 0
                ? $"The {where} is up to date."
                : $"Applied {store.AppliedMigrations.Count} migration(s) to the {where}: {string.Join(", ", store.AppliedMigrations)}.");
            return Task.CompletedTask;
        }));
        return command;
    }

    private static Command StoreCommands()
    {
        var storeCommand = new Command("store", "The store as a whole");
        var to = new Option<string>("--to") { Description = "The PostgreSQL database to copy into (Npgsql connection string or postgres:// URL); it must be empty", Required = true };
        var copy = new Command("copy", "Copy this deployment's store (stopped) into an empty PostgreSQL database and check that rows and money match") { to };
        copy.SetAction((parse, cancellationToken) => Run(parse, cancellationToken, async store =>
        {
            var target = StoreConnection.Parse(parse.GetValue(to)!);
            var dataDirectory = TokenPoolConfiguration.ResolveDataDirectory(parse.GetValue(Data));
            using var serverLock = DataDirectoryLock.TryAcquire(dataDirectory)
                ?? throw new CliException($"A TokenPool server is running on {dataDirectory}. Stop it first, so that nothing changes while the store is copied.");
            var report = await new StoreCopier(store.Get<Microsoft.EntityFrameworkCore.IDbContextFactory<TokenPoolDb>>(), target).CopyAsync(cancellationToken);
            foreach (var line in report)
            {
                Console.WriteLine(line);
            }

            Console.WriteLine($"Copied and verified. Start TokenPool with --database pointing at the {target.Describe()} and --secrets {store.Get<Microsoft.Extensions.Options.IOptions<StoreOptions>>().Value.FullSecretsDirectory} (the keys are encrypted with these secrets).");
        }));
        storeCommand.Subcommands.Add(copy);
        return storeCommand;
    }

    private static Command DoctorCommand()
    {
        var skipRequest = new Option<bool>("--skip-request") { Description = "Do not send the tiny test request (which costs a fraction of a cent)" };
        var command = new Command("doctor", "Check this machine's Codex and OpenCode set-up for TokenPool and say what to fix (never prints a key)") { skipRequest };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
            var doctor = new Doctor(new DoctorSettings(Environment.GetEnvironmentVariable, !parse.GetValue(skipRequest)), Console.Out, http);
            return await doctor.RunAsync(cancellationToken);
        });
        return command;
    }

    /// <summary>Opens the store, runs the verb, and turns a user's mistake into one clear line on stderr and exit code 1.</summary>
    private static async Task<int> Run(ParseResult parse, CancellationToken cancellationToken, Func<CliStore, Task> verb)
    {
        try
        {
            await using var store = await CliStore.OpenAsync(Flags(parse), cancellationToken);
            await verb(store);
            return 0;
        }
        catch (Exception ex) when (ex is CliException or AccountActionException or KeyActionException or ChannelActionException or ArgumentException
            or StoreNotReadyException or StoreCopyException)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 1;
        }
    }

    private static StoreFlags Flags(ParseResult parse) =>
        new(parse.GetValue(Data), parse.GetValue(DatabaseFlag), parse.GetValue(Secrets), parse.GetValue(Redis));

    private static async Task<Account> FindAccountAsync(CliStore store, string email, CancellationToken cancellationToken) =>
        await store.Get<AccountService>().FindByEmailAsync(email, cancellationToken)
        ?? throw new CliException($"No account has the email {email}. Create it with `tokenpool user add --email {email} --password ...`.");

    private static async Task<Channel> FindChannelAsync(CliStore store, string nameOrId, CancellationToken cancellationToken) =>
        await store.Get<ChannelService>().FindAsync(nameOrId, cancellationToken)
        ?? throw new CliException($"No channel is named \"{nameOrId}\". See `tokenpool channel list`.");

    private static string When(DateTime? at) => at is { } value ? value.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) : "-";

    private static string KeyStatus(ApiKey key) =>
        key.Status == ApiKeyStatus.Disabled ? "disabled" : key.ExpiresAt is { } expires && expires <= DateTime.UtcNow ? "expired" : "active";

    private static RequestLimits KeyLimits(ApiKey key) => new(key.RequestsPerMinute, key.TokensPerMinute, key.MaxConcurrentRequests);

    private sealed class CliException(string message) : Exception(message);

    /// <summary><c>--rpm</c>, <c>--tpm</c> and <c>--concurrency</c>: a whole number sets a limit, <c>none</c> removes it, leaving one out keeps it.</summary>
    private sealed record LimitOptions(Option<string?> Rpm, Option<string?> Tpm, Option<string?> Concurrency)
    {
        public static LimitOptions Create() => new(
            new Option<string?>("--rpm") { Description = "Most requests per minute (none: no limit)" },
            new Option<string?>("--tpm") { Description = "Most tokens per minute, input and output (none: no limit)" },
            new Option<string?>("--concurrency") { Description = "Most requests in flight at once (none: no limit)" });

        public void AddTo(Command command)
        {
            command.Options.Add(Rpm);
            command.Options.Add(Tpm);
            command.Options.Add(Concurrency);
        }

        public RequestLimits Apply(ParseResult parse, RequestLimits current) => new(
            Parse(parse, Rpm, current.RequestsPerMinute),
            Parse(parse, Tpm, current.TokensPerMinute),
            Parse(parse, Concurrency, current.MaxConcurrentRequests));

        private static int? Parse(ParseResult parse, Option<string?> option, int? current)
        {
            var text = parse.GetValue(option);
            if (text is null)
            {
                return current;
            }

            if (string.Equals(text.Trim(), "none", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0
                ? value
                : throw new CliException($"{option.Name} must be a whole number of at least 1, or none for no limit (got \"{text}\").");
        }
    }
}
