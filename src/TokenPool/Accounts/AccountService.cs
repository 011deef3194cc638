using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using TokenPool.Billing;
using TokenPool.Data;
using TokenPool.Keys;

namespace TokenPool.Accounts;

/// <summary>Accounts, passwords and credit. Used by the console, the admin pages and the CLI.</summary>
internal sealed class AccountService(
    IDbContextFactory<TokenPoolDb> dbFactory,
    IPasswordHasher<Account> hasher,
    IOptions<AccountOptions> options,
    ChangeFeed changes,
    TimeProvider time)
{
    public const int MinPasswordLength = 10;

    public static string Normalize(string email) => email.Trim().ToLowerInvariant();

    /// <summary>Creates an account. <paramref name="startingCreditMicros"/> defaults to the configured starting credit.</summary>
    /// <remarks>Accounts made by an operator count as verified; sign-up passes <paramref name="emailVerified"/> false.</remarks>
    public async Task<Account> CreateAsync(string email, string password, AccountRole role, long? startingCreditMicros, CancellationToken cancellationToken, bool emailVerified = true)
    {
        var trimmed = email.Trim();
        ValidateNew(trimmed, password);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var normalized = Normalize(trimmed);
        if (await db.Accounts.AnyAsync(a => a.NormalizedEmail == normalized, cancellationToken))
        {
            throw new AccountActionException("An account with this email already exists. Sign in instead.");
        }

        var credit = startingCreditMicros ?? Money.FromDollars(options.Value.StartingCreditUsd);
        if (credit < 0)
        {
            throw new AccountActionException("Starting credit cannot be negative.");
        }

        var account = new Account
        {
            Email = trimmed,
            NormalizedEmail = normalized,
            PasswordHash = "",
            Role = role,
            SecurityStamp = NewStamp(),
            BalanceMicros = credit,
            CreditedMicros = credit,
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        account.EmailVerifiedAt = emailVerified ? account.CreatedAt : null;
        account.PasswordHash = hasher.HashPassword(account, password);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        db.Accounts.Add(account);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            throw new AccountActionException("An account with this email already exists. Sign in instead.");
        }

        if (credit != 0)
        {
            db.Ledger.Add(new LedgerEntry
            {
                AccountId = account.Id,
                AmountMicros = credit,
                Kind = LedgerKinds.StartingCredit,
                Reason = "Starting credit",
                CreatedAt = account.CreatedAt,
            });
            await db.SaveChangesAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return account;
    }

    public async Task<Account?> FindByEmailAsync(string email, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var normalized = Normalize(email);
        return await db.Accounts.AsNoTracking().FirstOrDefaultAsync(a => a.NormalizedEmail == normalized, cancellationToken);
    }

    public async Task<Account?> FindAsync(long accountId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Accounts.AsNoTracking().FirstOrDefaultAsync(a => a.Id == accountId, cancellationToken);
    }

    /// <summary>
    /// Spends the time a password check takes when there is no account to check against, so that how long a
    /// sign-in or sign-up takes does not tell whether an email has an account.
    /// </summary>
    public void CheckNoPassword(string password) => hasher.VerifyHashedPassword(TimingDummy.Value, TimingDummy.Value.PasswordHash, password);

    /// <summary>A password hash made with the current settings, only ever checked against (it matches nothing anyone knows).</summary>
    private static readonly Lazy<Account> TimingDummy = new(() =>
    {
        var dummy = new Account { Email = "", NormalizedEmail = "", PasswordHash = "", SecurityStamp = "" };
        dummy.PasswordHash = new PasswordHasher<Account>().HashPassword(dummy, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
        return dummy;
    });

    /// <summary>Checks a password; upgrades the stored hash when the hasher asks for it.</summary>
    public async Task<bool> CheckPasswordAsync(Account account, string password, CancellationToken cancellationToken)
    {
        var result = hasher.VerifyHashedPassword(account, account.PasswordHash, password);
        if (result == PasswordVerificationResult.SuccessRehashNeeded)
        {
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            var rehashed = hasher.HashPassword(account, password);
            await db.Accounts.Where(a => a.Id == account.Id)
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.PasswordHash, rehashed), cancellationToken);
        }

        return result != PasswordVerificationResult.Failed;
    }

    /// <summary>
    /// Sets a new password and a new security stamp and ends every session of the account but
    /// <paramref name="keepSessionId"/> (none for a reset), recorded as <paramref name="auditKind"/>.
    /// </summary>
    public async Task<Account> SetPasswordAsync(long accountId, string newPassword, long? keepSessionId, string auditKind, string? clientAddress, CancellationToken cancellationToken)
    {
        ValidatePassword(newPassword);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var account = await db.Accounts.FirstAsync(a => a.Id == accountId, cancellationToken);
        account.PasswordHash = hasher.HashPassword(account, newPassword);
        account.SecurityStamp = NewStamp();
        db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = auditKind, ClientAddress = clientAddress, CreatedAt = time.GetUtcNow().UtcDateTime });
        await db.SaveChangesAsync(cancellationToken);
        await SessionStore.EndAllAsync(db, accountId, keepSessionId, cancellationToken);
        await db.AccountTokens.Where(t => t.AccountId == accountId && t.Purpose == AccountTokenPurposes.PasswordReset && t.UsedAt == null)
            .ExecuteDeleteAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return account;
    }

    /// <summary>
    /// Adds (positive) or removes (negative) credit, with a ledger entry saying who and why. Credit can be
    /// removed only down to a zero balance.
    /// </summary>
    public async Task<long> ChangeCreditAsync(long accountId, long amountMicros, string reason, long? actorAccountId, CancellationToken cancellationToken)
    {
        if (amountMicros == 0)
        {
            throw new AccountActionException("Enter an amount other than zero.");
        }

        if (string.IsNullOrWhiteSpace(reason))
        {
            throw new AccountActionException("Say why the credit changes; the reason is kept in the ledger.");
        }

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var updated = await db.Accounts
            .Where(a => a.Id == accountId && a.BalanceMicros + amountMicros >= 0)
            .ExecuteUpdateAsync(
                s => s.SetProperty(a => a.BalanceMicros, a => a.BalanceMicros + amountMicros)
                    .SetProperty(a => a.CreditedMicros, a => a.CreditedMicros + amountMicros),
                cancellationToken);
        if (updated == 0)
        {
            var exists = await db.Accounts.AnyAsync(a => a.Id == accountId, cancellationToken);
            throw new AccountActionException(exists
                ? "That would take the balance below zero. Remove at most the available balance."
                : "No such account.");
        }

        var now = time.GetUtcNow().UtcDateTime;
        db.Ledger.Add(new LedgerEntry
        {
            AccountId = accountId,
            AmountMicros = amountMicros,
            Kind = amountMicros > 0 ? LedgerKinds.Grant : LedgerKinds.Removal,
            Reason = reason.Trim(),
            ActorAccountId = actorAccountId,
            CreatedAt = now,
        });
        db.AuditEvents.Add(new AuditEvent
        {
            AccountId = accountId,
            ActorAccountId = actorAccountId,
            Kind = AuditKinds.CreditChanged,
            Detail = $"{Money.Format(amountMicros)}: {reason.Trim()}",
            CreatedAt = now,
        });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return await db.Accounts.Where(a => a.Id == accountId).Select(a => a.BalanceMicros).FirstAsync(cancellationToken);
    }

    /// <summary>Disables or enables an account; a disabled account's keys stop working at once.</summary>
    public async Task SetDisabledAsync(long accountId, bool disabled, long? actorAccountId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var updated = await db.Accounts.Where(a => a.Id == accountId)
            .ExecuteUpdateAsync(
                s => s.SetProperty(a => a.IsDisabled, disabled).SetProperty(a => a.SecurityStamp, NewStamp()),
                cancellationToken);
        if (updated == 0)
        {
            throw new AccountActionException("No such account.");
        }

        if (disabled)
        {
            await SessionStore.EndAllAsync(db, accountId, null, cancellationToken);
        }

        db.AuditEvents.Add(new AuditEvent
        {
            AccountId = accountId,
            ActorAccountId = actorAccountId,
            Kind = disabled ? AuditKinds.AccountDisabled : AuditKinds.AccountEnabled,
            CreatedAt = time.GetUtcNow().UtcDateTime,
        });
        var change = ChangeFeed.Record(db, ChangeKinds.Account, accountId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke(change);
    }

    public async Task SetRoleAsync(long accountId, AccountRole role, long? actorAccountId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var updated = await db.Accounts.Where(a => a.Id == accountId)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.Role, role), cancellationToken);
        if (updated == 0)
        {
            throw new AccountActionException("No such account.");
        }

        db.AuditEvents.Add(new AuditEvent
        {
            AccountId = accountId,
            ActorAccountId = actorAccountId,
            Kind = AuditKinds.RoleChanged,
            Detail = role.ToString().ToLowerInvariant(),
            CreatedAt = time.GetUtcNow().UtcDateTime,
        });
        var change = ChangeFeed.Record(db, ChangeKinds.Account, accountId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke(change);
    }

    /// <summary>
    /// Sets the account's requests-per-minute, tokens-per-minute and concurrent-request limits, shared by all
    /// its keys (null: no limit); every instance applies them to the account's next request.
    /// </summary>
    public async Task SetLimitsAsync(long accountId, RequestLimits limits, long? actorAccountId, CancellationToken cancellationToken)
    {
        RequestLimits.Validate(limits);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var updated = await db.Accounts.Where(a => a.Id == accountId)
            .ExecuteUpdateAsync(
                s => s.SetProperty(a => a.RequestsPerMinute, limits.RequestsPerMinute)
                    .SetProperty(a => a.TokensPerMinute, limits.TokensPerMinute)
                    .SetProperty(a => a.MaxConcurrentRequests, limits.MaxConcurrentRequests),
                cancellationToken);
        if (updated == 0)
        {
            throw new AccountActionException("No such account.");
        }

        db.AuditEvents.Add(new AuditEvent
        {
            AccountId = accountId,
            ActorAccountId = actorAccountId,
            Kind = AuditKinds.AccountLimitsChanged,
            Detail = limits.Describe(),
            CreatedAt = time.GetUtcNow().UtcDateTime,
        });
        var change = ChangeFeed.Record(db, ChangeKinds.Account, accountId);
        await db.SaveChangesAsync(cancellationToken);
        changes.Poke(change);
    }

    /// <summary>Checks what a new account needs (a plausible email, a long enough password) without looking at the store.</summary>
    public static void ValidateNew(string email, string password)
    {
        if (!IsPlausibleEmail(email.Trim()))
        {
            throw new AccountActionException("Enter a valid email address, like name@example.com.");
        }

        ValidatePassword(password);
    }

    /// <summary>Adds an entry to the account's activity log.</summary>
    public async Task RecordAsync(long accountId, string kind, string? detail, string? clientAddress, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = kind, Detail = detail, ClientAddress = clientAddress, CreatedAt = time.GetUtcNow().UtcDateTime });
        await db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>Why the account may not create API keys yet (its email is unconfirmed and the operator requires it), or null when it may.</summary>
    public string? WhyNoNewKeys(Account account) =>
        options.Value.RequireVerifiedEmail && account.EmailVerifiedAt is null
            ? $"Confirm your email before creating API keys: open the link we sent to {account.Email}, or ask for a new one above."
            : null;

    /// <summary>Marks the account's email as confirmed (the owner followed the link sent to it).</summary>
    public async Task MarkEmailVerifiedAsync(long accountId, string? clientAddress, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var updated = await db.Accounts.Where(a => a.Id == accountId && a.EmailVerifiedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.EmailVerifiedAt, now), cancellationToken);
        if (updated == 1)
        {
            db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = AuditKinds.EmailVerified, ClientAddress = clientAddress, CreatedAt = now });
            await db.SaveChangesAsync(cancellationToken);
        }
    }

    public static void ValidatePassword(string password)
    {
        if (password.Length < MinPasswordLength)
        {
            throw new AccountActionException($"Use a password of at least {MinPasswordLength} characters.");
        }

        if (password.Length > 512)
        {
            throw new AccountActionException("Use a password of at most 512 characters.");
        }
    }

    private static bool IsPlausibleEmail(string email)
    {
        var at = email.IndexOf('@');
        return email.Length <= 320 && at > 0 && at == email.LastIndexOf('@') && email.IndexOf('.', at) > at + 1
            && !email.EndsWith('.') && !email.Any(char.IsWhiteSpace);
    }

    private static string NewStamp() => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
}

/// <summary>An account action that cannot be done as asked; the message says why, for the user.</summary>
internal sealed class AccountActionException(string message) : Exception(message);
