using TokenPool.Accounts;
using TokenPool.Cli;
using TokenPool.IntegrationTests.Infrastructure;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>
/// The account-security store operations on PostgreSQL (the other tests run them on SQLite): sessions end at once,
/// mail tokens and passkey challenges are spent once, a two-factor code is accepted once, recovery codes work once.
/// </summary>
public sealed class AccountSecurityPostgresTests : IAsyncLifetime
{
    private string _database = null!;
    private string _data = null!;
    private CliStore _store = null!;

    public async Task InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync("accounts");
        _data = Directory.CreateTempSubdirectory("tokenpool-pg-accounts-").FullName;
        _store = await CliStore.OpenAsync(new StoreFlags(_data, _database, null, null), CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        await TestPostgres.DropDatabaseAsync(_database);
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task Sessions_Tokens_Codes_AndChallenges_AreEachUsableOnlyAsLongAsTheyShouldBe()
    {
        var account = await _store.Get<AccountService>().CreateAsync("pg@example.com", "correct horse battery staple", AccountRole.User, 0, CancellationToken.None);
        var none = CancellationToken.None;

        var sessions = _store.Get<SessionStore>();
        var first = await sessions.StartAsync(account.Id, SignInMethods.Password, "198.51.100.1", new string('x', 1000), TimeSpan.FromHours(1), none);
        var second = await sessions.StartAsync(account.Id, SignInMethods.Passkey, null, null, TimeSpan.FromHours(1), none);
        Assert.Equal(AccountSession.MaxUserAgentLength, first.Session.UserAgent!.Length);
        Assert.NotNull(await sessions.FindAsync(account.Id, first.Token, none));
        Assert.Null(await sessions.FindAsync(account.Id + 1, first.Token, none));
        Assert.Equal(1, await sessions.EndAllAsync(account.Id, second.Session.Id, none));
        Assert.Null(await sessions.FindAsync(account.Id, first.Token, none));
        Assert.NotNull(await sessions.FindAsync(account.Id, second.Token, none));
        await _store.Get<AccountService>().SetPasswordAsync(account.Id, "a postgres passphrase", null, AuditKinds.PasswordReset, null, none);
        Assert.Null(await sessions.FindAsync(account.Id, second.Token, none));

        var tokens = _store.Get<OneTimeTokens>();
        var reset = await tokens.IssueAsync(account.Id, AccountTokenPurposes.PasswordReset, TimeSpan.FromMinutes(30), none);
        Assert.Null(await tokens.SpendAsync(reset, AccountTokenPurposes.VerifyEmail, none));
        Assert.Equal(account.Id, await tokens.SpendAsync(reset, AccountTokenPurposes.PasswordReset, none));
        Assert.Null(await tokens.SpendAsync(reset, AccountTokenPurposes.PasswordReset, none));
        var challenge = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        Assert.True(await tokens.UseOnceAsync(account.Id, AccountTokenPurposes.PasskeyChallenge, challenge, TimeSpan.FromMinutes(10), none));
        Assert.False(await tokens.UseOnceAsync(account.Id, AccountTokenPurposes.PasskeyChallenge, challenge, TimeSpan.FromMinutes(10), none));

        var twoFactor = _store.Get<TwoFactor>();
        var enrolment = twoFactor.Begin(account);
        var app = new AuthenticatorApp(enrolment.Secret);
        var codes = await twoFactor.EnableAsync(account.Id, enrolment.Secret, await app.NextCodeAsync(), null, none);
        Assert.NotNull(codes);
        var enabled = (await _store.Get<AccountService>().FindAsync(account.Id, none))!;
        Assert.True(enabled.HasTotp);
        Assert.NotEqual(enrolment.Secret, enabled.TotpSecret);
        var code = await app.NextCodeAsync();
        Assert.Equal(CodeCheck.Accepted, await twoFactor.CheckCodeAsync(enabled, code, none));
        Assert.Equal(CodeCheck.Replayed, await twoFactor.CheckCodeAsync(enabled, code, none));
        Assert.True(await twoFactor.UseRecoveryCodeAsync(account.Id, codes[3], null, none));
        Assert.False(await twoFactor.UseRecoveryCodeAsync(account.Id, codes[3], null, none));
        Assert.Equal(9, await twoFactor.RecoveryCodesLeftAsync(account.Id, none));
    }
}
