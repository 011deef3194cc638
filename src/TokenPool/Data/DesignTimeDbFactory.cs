using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace TokenPool.Data;

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without starting the app.</summary>
internal sealed class DesignTimeDbFactory : IDesignTimeDbContextFactory<TokenPoolDb>
{
    public TokenPoolDb CreateDbContext(string[] args)
    {
        var builder = new DbContextOptionsBuilder<TokenPoolDb>();
        builder.UseTokenPoolStore("Data Source=design-time.db");
        return new TokenPoolDb(builder.Options);
    }
}
