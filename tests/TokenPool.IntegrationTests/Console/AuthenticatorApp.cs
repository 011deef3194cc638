using OtpNet;

namespace TokenPool.IntegrationTests.WebConsole;

/// <summary>
/// What an authenticator app does, for tests: codes from the secret shown at set-up. TokenPool accepts each 30-second
/// step once and one step ahead for clock drift, so every code handed out is for a later step than the last one
/// (waiting for the clock when both are used).
/// </summary>
internal sealed class AuthenticatorApp(string secret)
{
    private readonly Totp _totp = new(Base32Encoding.ToBytes(secret));
    private long _lastStep;

    public string Secret => secret;

    /// <summary>A code for a step not used before (this one, or the next).</summary>
    public async Task<string> NextCodeAsync()
    {
        while (true)
        {
            var now = DateTimeOffset.UtcNow;
            var step = now.ToUnixTimeSeconds() / 30;
            var wanted = Math.Max(step, _lastStep + 1);
            if (wanted <= step + 1)
            {
                _lastStep = wanted;
                return _totp.ComputeTotp(DateTimeOffset.FromUnixTimeSeconds(wanted * 30).UtcDateTime);
            }

            await Task.Delay(1000);
        }
    }

    /// <summary>The code last handed out (already used, if the test used it).</summary>
    public string LastCode => _totp.ComputeTotp(DateTimeOffset.FromUnixTimeSeconds(_lastStep * 30).UtcDateTime);
}
