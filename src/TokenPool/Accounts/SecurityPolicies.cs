using Microsoft.EntityFrameworkCore;
using TokenPool.Data;

namespace TokenPool.Accounts;

/// <summary>Reads and changes the sign-in rules admins set (<see cref="SecurityPolicy"/>).</summary>
internal sealed class SecurityPolicies(IDbContextFactory<TokenPoolDb> dbFactory, TimeProvider time)
{
    public async Task<SecurityPolicy> GetAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.SecurityPolicy.AsNoTracking().FirstOrDefaultAsync(cancellationToken) ?? new SecurityPolicy();
    }

    public async Task SetRequireTwoFactorForAdminsAsync(bool required, long actorAccountId, string? clientAddress, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var policy = await db.SecurityPolicy.FirstOrDefaultAsync(cancellationToken);
        if (policy is null)
        {
            policy = new SecurityPolicy();
            db.SecurityPolicy.Add(policy);
        }

        policy.RequireTwoFactorForAdmins = required;
        policy.UpdatedAt = now;
        db.AuditEvents.Add(new AuditEvent
        {
            AccountId = actorAccountId,
            ActorAccountId = actorAccountId,
            Kind = AuditKinds.SecurityPolicyChanged,
            Detail = required ? "admins must sign in with two factors" : "admins may sign in with a password alone",
            ClientAddress = clientAddress,
            CreatedAt = now,
        });
        await db.SaveChangesAsync(cancellationToken);
    }
}
