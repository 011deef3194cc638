using TokenPool.Billing;

namespace TokenPool.Tests.Billing;

public sealed class LeaseRefillTests
{
    [Fact]
    public void RefillsComingWithinASecond_DoubleTheNextRefill_UpToTheCap()
    {
        var lease = new Lease("lease_test_1_1", 1, 1);
        var now = 1_000_000L;
        lease.NoteRefill(now, maxScale: 16);
        Assert.Equal(1, lease.RefillScale);

        var scales = new List<int>();
        for (var i = 0; i < 6; i++)
        {
            now += 300;
            lease.NoteRefill(now, maxScale: 16);
            scales.Add(lease.RefillScale);
        }

        Assert.Equal([2, 4, 8, 16, 16, 16], scales);
    }

    [Fact]
    public void ARefillAfterAQuietSpell_StartsAgainFromTheBaseSize()
    {
        var lease = new Lease("lease_test_1_1", 1, 1);
        var now = 1_000_000L;
        for (var i = 0; i < 4; i++)
        {
            lease.NoteRefill(now += 100, maxScale: 16);
        }

        Assert.Equal(8, lease.RefillScale);
        lease.NoteRefill(now += 3_000, maxScale: 16);
        Assert.Equal(8, lease.RefillScale);
        lease.NoteRefill(now += 10_000, maxScale: 16);
        Assert.Equal(1, lease.RefillScale);
    }
}
