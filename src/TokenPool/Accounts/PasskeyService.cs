using System.Text.Json;
using Fido2NetLib;
using Fido2NetLib.Objects;
using Microsoft.EntityFrameworkCore;
using TokenPool.Data;
using TokenPool.Keys;

namespace TokenPool.Accounts;

/// <summary>Where a passkey ceremony happens: the relying party id (the site's host name) and the page's origin.</summary>
internal sealed record PasskeySite(string RpId, string Origin);

/// <summary>
/// Passkeys (WebAuthn, with the Fido2 library): registering one for a signed-in account, and signing in with one
/// alone (a discoverable credential: the browser offers the account's passkeys, no email is typed). Only the
/// credential id and public key are stored. Each ceremony's options travel to the browser and back in an
/// encrypted cookie; a challenge is recorded when used, so an answer cannot be replayed.
/// </summary>
internal sealed class PasskeyService(IDbContextFactory<TokenPoolDb> dbFactory, KeySecrets secrets, OneTimeTokens tokens, TimeProvider time)
{
    public const int MaxPasskeysPerAccount = 20;
    public const int MaxResponseLength = 64 * 1024;

    /// <summary>The options for <c>navigator.credentials.create</c>, as JSON the console's script reads.</summary>
    public async Task<string> RegistrationOptionsAsync(Account account, PasskeySite site, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var existing = await db.Passkeys.AsNoTracking().Where(p => p.AccountId == account.Id).Select(p => p.CredentialId).ToListAsync(cancellationToken);
        if (existing.Count >= MaxPasskeysPerAccount)
        {
            throw new AccountActionException($"An account can have at most {MaxPasskeysPerAccount} passkeys. Remove one first.");
        }

        var options = Fido(site).RequestNewCredential(new RequestNewCredentialParams
        {
            User = new Fido2User { Id = UserHandle(account.Id), Name = account.Email, DisplayName = account.Email },
            ExcludeCredentials = [.. existing.Select(id => new PublicKeyCredentialDescriptor(id))],
            AuthenticatorSelection = new AuthenticatorSelection
            {
                ResidentKey = ResidentKeyRequirement.Required,
                UserVerification = UserVerificationRequirement.Preferred,
            },
            AttestationPreference = AttestationConveyancePreference.None,
        });
        return options.ToJson();
    }

    /// <summary>Checks the browser's answer to <see cref="RegistrationOptionsAsync"/> and stores the new passkey under the name given.</summary>
    public async Task<Passkey> RegisterAsync(Account account, PasskeySite site, string optionsJson, string responseJson, string? name, string? clientAddress, CancellationToken cancellationToken)
    {
        var options = CredentialCreateOptions.FromJson(optionsJson);
        var response = Parse<AuthenticatorAttestationRawResponse>(responseJson);
        if (!await tokens.UseOnceAsync(account.Id, AccountTokenPurposes.PasskeyChallenge, options.Challenge, TimeSpan.FromMinutes(10), cancellationToken))
        {
            throw new AccountActionException("This passkey request was already used. Start again.");
        }

        RegisteredPublicKeyCredential credential;
        try
        {
            credential = await Fido(site).MakeNewCredentialAsync(new MakeNewCredentialParams
            {
                AttestationResponse = response,
                OriginalOptions = options,
                IsCredentialIdUniqueToUserCallback = async (args, ct) =>
                {
                    await using var db = await dbFactory.CreateDbContextAsync(ct);
                    return !await db.Passkeys.AnyAsync(p => p.CredentialId == args.CredentialId, ct);
                },
            }, cancellationToken);
        }
        catch (Fido2VerificationException error)
        {
            throw new AccountActionException("The browser's passkey answer did not check out (" + error.Message + "). Try again.");
        }

        var now = time.GetUtcNow().UtcDateTime;
        var passkey = new Passkey
        {
            AccountId = account.Id,
            CredentialId = credential.Id,
            PublicKey = credential.PublicKey,
            SignCount = credential.SignCount,
            Name = CleanName(name) ?? $"Passkey added {now:yyyy-MM-dd}",
            CreatedAt = now,
        };
        await using var store = await dbFactory.CreateDbContextAsync(cancellationToken);
        store.Passkeys.Add(passkey);
        store.AuditEvents.Add(new AuditEvent { AccountId = account.Id, Kind = AuditKinds.PasskeyAdded, Detail = passkey.Name, ClientAddress = clientAddress, CreatedAt = now });
        await store.SaveChangesAsync(cancellationToken);
        return passkey;
    }

    /// <summary>The options for <c>navigator.credentials.get</c> with no account named: the browser offers any passkey it has for this site.</summary>
    public string SignInOptions(PasskeySite site) =>
        Fido(site).GetAssertionOptions(new GetAssertionOptionsParams
        {
            AllowedCredentials = [],
            UserVerification = UserVerificationRequirement.Preferred,
        }).ToJson();

    /// <summary>Checks a sign-in answer; returns the passkey's account id, or null when the passkey is unknown or the answer does not check out.</summary>
    public async Task<long?> SignInAsync(PasskeySite site, string optionsJson, string responseJson, CancellationToken cancellationToken)
    {
        var options = AssertionOptions.FromJson(optionsJson);
        AuthenticatorAssertionRawResponse response;
        try
        {
            response = Parse<AuthenticatorAssertionRawResponse>(responseJson);
        }
        catch (AccountActionException)
        {
            return null;
        }

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var passkey = await db.Passkeys.FirstOrDefaultAsync(p => p.CredentialId == response.RawId, cancellationToken);
        if (passkey is null)
        {
            return null;
        }

        try
        {
            var result = await Fido(site).MakeAssertionAsync(new MakeAssertionParams
            {
                AssertionResponse = response,
                OriginalOptions = options,
                StoredPublicKey = passkey.PublicKey,
                StoredSignatureCounter = (uint)passkey.SignCount,
                IsUserHandleOwnerOfCredentialIdCallback = (args, _) =>
                    Task.FromResult(args.UserHandle.AsSpan().SequenceEqual(UserHandle(passkey.AccountId))),
            }, cancellationToken);
            if (!await tokens.UseOnceAsync(passkey.AccountId, AccountTokenPurposes.PasskeyChallenge, options.Challenge, TimeSpan.FromMinutes(10), cancellationToken))
            {
                return null;
            }

            passkey.SignCount = result.SignCount;
            passkey.LastUsedAt = time.GetUtcNow().UtcDateTime;
            await db.SaveChangesAsync(cancellationToken);
            return passkey.AccountId;
        }
        catch (Fido2VerificationException)
        {
            return null;
        }
    }

    public async Task<List<Passkey>> ListAsync(long accountId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Passkeys.AsNoTracking().Where(p => p.AccountId == accountId).OrderBy(p => p.Id).ToListAsync(cancellationToken);
    }

    public async Task<bool> RenameAsync(long accountId, long passkeyId, string? name, string? clientAddress, CancellationToken cancellationToken)
    {
        var clean = CleanName(name) ?? throw new AccountActionException("Give the passkey a name, such as \"laptop\" or \"phone\".");
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var renamed = await db.Passkeys.Where(p => p.AccountId == accountId && p.Id == passkeyId)
            .ExecuteUpdateAsync(s => s.SetProperty(p => p.Name, clean), cancellationToken);
        if (renamed == 1)
        {
            db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = AuditKinds.PasskeyRenamed, Detail = clean, ClientAddress = clientAddress, CreatedAt = time.GetUtcNow().UtcDateTime });
            await db.SaveChangesAsync(cancellationToken);
        }

        return renamed == 1;
    }

    public async Task<bool> RemoveAsync(long accountId, long passkeyId, string? clientAddress, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var passkey = await db.Passkeys.FirstOrDefaultAsync(p => p.AccountId == accountId && p.Id == passkeyId, cancellationToken);
        if (passkey is null)
        {
            return false;
        }

        db.Passkeys.Remove(passkey);
        db.AuditEvents.Add(new AuditEvent { AccountId = accountId, Kind = AuditKinds.PasskeyRemoved, Detail = passkey.Name, ClientAddress = clientAddress, CreatedAt = time.GetUtcNow().UtcDateTime });
        await db.SaveChangesAsync(cancellationToken);
        return true;
    }

    /// <summary>The WebAuthn user handle of an account: a keyed hash of its id, so it reveals neither the id nor the email.</summary>
    public byte[] UserHandle(long accountId) => Convert.FromHexString(secrets.LookupHash("passkey-user:" + accountId))[..16];

    private static string? CleanName(string? name)
    {
        var trimmed = name?.Trim();
        if (string.IsNullOrEmpty(trimmed))
        {
            return null;
        }

        var printable = new string([.. trimmed.Where(c => !char.IsControl(c))]);
        return printable.Length <= Passkey.MaxNameLength ? printable : printable[..Passkey.MaxNameLength];
    }

    private static T Parse<T>(string json)
        where T : class
    {
        if (json.Length > MaxResponseLength)
        {
            throw new AccountActionException("The browser's passkey answer is too large.");
        }

        try
        {
            return JsonSerializer.Deserialize<T>(json) ?? throw new AccountActionException("The browser sent no passkey answer.");
        }
        catch (JsonException)
        {
            throw new AccountActionException("The browser's passkey answer could not be read. Try again.");
        }
    }

    private static Fido2 Fido(PasskeySite site) => new(new Fido2Configuration
    {
        RPID = site.RpId,
        RPName = "TokenPool",
        Origins = new HashSet<string>(StringComparer.Ordinal) { site.Origin },
    });
}
