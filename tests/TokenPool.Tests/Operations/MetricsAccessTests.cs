using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using TokenPool.Operations;

namespace TokenPool.Tests.Operations;

public sealed class MetricsAccessTests
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("10.1.2.3", true)]
    [InlineData("192.168.1.9", false)]
    [InlineData("203.0.113.5", false)]
    public void WithoutAToken_LoopbackAndTheAllowedNetworksMayRead(string address, bool allowed)
    {
        var access = Access(new OperationsOptions { MetricsAllowedNetworks = ["10.0.0.0/8"] });
        Assert.Equal(allowed, access.Allows(Request(address)));
    }

    [Fact]
    public void TheBearerToken_OpensMetricsToAnyAddress_AndAWrongOneDoesNot()
    {
        var access = Access(new OperationsOptions { MetricsToken = "scrape-token-123", MetricsAllowLoopback = false });
        Assert.True(access.Allows(Request("203.0.113.5", "Bearer scrape-token-123")));
        Assert.False(access.Allows(Request("203.0.113.5", "Bearer scrape-token-124")));
        Assert.False(access.Allows(Request("203.0.113.5", "Basic scrape-token-123")));
        Assert.False(access.Allows(Request("127.0.0.1")));
    }

    [Fact]
    public void ANetworkThatIsNotCidr_FailsAtStartWithTheSettingNamed()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Access(new OperationsOptions { MetricsAllowedNetworks = ["10.0.0.0/33"] }));
        Assert.Contains("Operations:MetricsAllowedNetworks", error.Message, StringComparison.Ordinal);
    }

    private static MetricsAccess Access(OperationsOptions options) => new(Options.Create(options));

    private static HttpContext Request(string address, string? authorization = null)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(address);
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        return context;
    }
}
