using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;
using OtpNet;
using QRCoder;
using TokenPool.Data;
using TokenPool.Keys;

namespace TokenPool.Accounts;

/// <summary>What a code check found.</summary>
internal enum CodeCheck
{
    Accepted,
    Wrong,

    /// <summary>The right code, but it was already used in its 30-second window.</summary>
    Replayed,
}

/// <summary>A secret being set up, before its first code confirmed it.</summary>
internal sealed record TotpEnrolment(string Secret, string ProtectedSecret, string Uri, string QrDataUri);

/// <summary>
/// Two-factor sign-in with an authenticator app (TOTP, RFC 6238, with Otp.NET) and single-use recovery codes.
/// The secret is stored encrypted with the deployment's data-protection keys; the last accepted time step is
/// stored so that a code is never accepted twice; recovery codes are stored as keyed hashes and shown once.
/// </summary>
internal sealed class TwoFactor(
    IDbContextFactory<TokenPoolDb> dbFactory,
    IDataProtectionProvider dataProtection,
    KeySecrets secrets,
    TimeProvider time)
{
    public const int RecoveryCodeCount = 10;
    public const int MaxCodeLength = 32;
    private const string Alphabet = "abcdefghjkmnpqrstuvwxyz23456789";

    private readonly IDataProtector _secrets = dataProtection.CreateProtector("TokenPool.Accounts.Totp.v1");
    private readonly ITimeLimitedDataProtector _pending = dataProtection.CreateProtector("TokenPool.Accounts.TotpPending.v1").ToTimeLimitedDataProtector();

    /// <summary>A new secret for the account, with the QR code and text an authenticator app reads. Nothing is stored yet.</summary>
    public TotpEnrolment Begin(Account account)
    {
        var secret = Base32Encoding.ToString(KeyGeneration.GenerateRandomKey(20)).TrimEnd('=');
        var uri = new OtpUri(OtpType.Totp, secret, account.Email, "TokenPool").ToString();
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(uri, QRCodeGenerator.ECCLevel.M);
        var png = new PngByteQRCode(data).GetGraphic(6);
        var protectedSecret = _pending.Protect(account.Id + ":" + secret, TimeSpan.FromMinutes(15));
        return new TotpEnrolment(secret, protectedSecret, uri, "data:image/png;base64," + Convert.ToBase64String(png));
    }

    /// <summary>The secret a form carried back from <see cref="Begin"/>, or null when it is not this account's or too old.</summary>
    public string? PendingSecret(long accountId, string? protectedSecret)
    {
        if (string.IsNullOrEmpty(protectedSecret) || protectedSecret.Length > 2048)
        {
            return null;
        }

        try
        {
            var parts = _pending.Unprotect(protectedSecret).Split(':', 2);
            return parts.Length == 2 && parts[0] == accountId.ToString(System.Globalization.CultureInfo.InvariantCulture) ? parts[1] : null;
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    /// <summary>Turns two-factor sign-in on once a code from the app matches; returns the recovery codes to show once, or null for a wrong code.</summary>
    public async Task<IReadOnlyList<string>?> EnableAsync(long accountId, string secret, string? code, string? clientAddress, CancellationToken cancellationToken)
    {
        if (Match(secret, code) is not { } step)
        {
            return null;
        }

        var codes = NewRecoveryCodes();
        var now = time.GetUtcNow().UtcDateTime;
        var protectedSecret = _secrets.Protect(secret);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.Accounts.Where(a => a.Id == accountId).ExecuteUpdateAsync(
            s => s.SetProperty(a => a.TotpSecret, protectedSecret).SetProperty(a => a.TotpEnabledAt, now).SetProperty(a => a.TotpLastStep, step),
            cancellationToken);
        await ReplaceRecoveryCodesAsync(db, accountId, codes, now, cancellationToken);
        db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = AuditKinds.TwoFactorEnabled, ClientAddress = clientAddress, CreatedAt = now });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return codes;
    }

    /// <summary>Checks a code from the authenticator app; an accepted code's time step is recorded so the code cannot be used again.</summary>
    public async Task<CodeCheck> CheckCodeAsync(Account account, string? code, CancellationToken cancellationToken)
    {
        if (account.TotpSecret is null || Match(_secrets.Unprotect(account.TotpSecret), code) is not { } step)
        {
            return CodeCheck.Wrong;
        }

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var accepted = await db.Accounts.Where(a => a.Id == account.Id && a.TotpLastStep < step)
            .ExecuteUpdateAsync(s => s.SetProperty(a => a.TotpLastStep, step), cancellationToken);
        return accepted == 1 ? CodeCheck.Accepted : CodeCheck.Replayed;
    }

    /// <summary>Spends one recovery code; false when it is not one of the account's unused codes.</summary>
    public async Task<bool> UseRecoveryCodeAsync(long accountId, string? code, string? clientAddress, CancellationToken cancellationToken)
    {
        var normalized = NormalizeRecoveryCode(code);
        if (normalized is null)
        {
            return false;
        }

        var hash = RecoveryHash(accountId, normalized);
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var used = await db.RecoveryCodes.Where(c => c.AccountId == accountId && c.CodeHash == hash && c.UsedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(c => c.UsedAt, now), cancellationToken);
        if (used == 1)
        {
            var left = await db.RecoveryCodes.CountAsync(c => c.AccountId == accountId && c.UsedAt == null, cancellationToken);
            db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = AuditKinds.RecoveryCodeUsed, Detail = $"{left} left", ClientAddress = clientAddress, CreatedAt = now });
            await db.SaveChangesAsync(cancellationToken);
        }

        return used == 1;
    }

    public async Task<int> RecoveryCodesLeftAsync(long accountId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.RecoveryCodes.CountAsync(c => c.AccountId == accountId && c.UsedAt == null, cancellationToken);
    }

    /// <summary>Replaces every recovery code with ten new ones, returned to be shown once.</summary>
    public async Task<IReadOnlyList<string>> RenewRecoveryCodesAsync(long accountId, string? clientAddress, CancellationToken cancellationToken)
    {
        var codes = NewRecoveryCodes();
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await ReplaceRecoveryCodesAsync(db, accountId, codes, now, cancellationToken);
        db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = AuditKinds.RecoveryCodesRenewed, ClientAddress = clientAddress, CreatedAt = now });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return codes;
    }

    /// <summary>Turns two-factor sign-in off and deletes the secret and the recovery codes.</summary>
    public async Task DisableAsync(long accountId, string? clientAddress, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.Accounts.Where(a => a.Id == accountId).ExecuteUpdateAsync(
            s => s.SetProperty(a => a.TotpSecret, (string?)null).SetProperty(a => a.TotpEnabledAt, (DateTime?)null),
            cancellationToken);
        await db.RecoveryCodes.Where(c => c.AccountId == accountId).ExecuteDeleteAsync(cancellationToken);
        db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = AuditKinds.TwoFactorDisabled, ClientAddress = clientAddress, CreatedAt = now });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The time step a six-digit code matches (the current one, or one step either side for clock drift), or null.</summary>
    private long? Match(string secret, string? code)
    {
        var digits = code is null ? "" : new string([.. code.Where(c => !char.IsWhiteSpace(c) && c != '-')]);
        if (digits.Length != 6 || !digits.All(char.IsAsciiDigit))
        {
            return null;
        }

        var totp = new Totp(Base32Encoding.ToBytes(secret));
        return totp.VerifyTotp(time.GetUtcNow().UtcDateTime, digits, out var step, new VerificationWindow(previous: 1, future: 1)) ? step : null;
    }

    private static List<string> NewRecoveryCodes() =>
        [.. Enumerable.Range(0, RecoveryCodeCount).Select(_ =>
        {
            var chars = RandomNumberGenerator.GetItems<char>(Alphabet, 10);
            return new string(chars, 0, 5) + "-" + new string(chars, 5, 5);
        })];

    private async Task ReplaceRecoveryCodesAsync(TokenPoolDb db, long accountId, IEnumerable<string> codes, DateTime now, CancellationToken cancellationToken)
    {
        await db.RecoveryCodes.Where(c => c.AccountId == accountId).ExecuteDeleteAsync(cancellationToken);
        db.RecoveryCodes.AddRange(codes.Select(code => new RecoveryCode { AccountId = accountId, CodeHash = RecoveryHash(accountId, NormalizeRecoveryCode(code)!), CreatedAt = now }));
    }

    private static string? NormalizeRecoveryCode(string? code)
    {
        if (code is null || code.Length > MaxCodeLength)
        {
            return null;
        }

        var normalized = new string([.. code.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant)]);
        return normalized.Length == 10 ? normalized : null;
    }

    private string RecoveryHash(long accountId, string normalized) => secrets.LookupHash($"recovery-code:{accountId}:{normalized}");
}
