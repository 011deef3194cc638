using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace TokenPool.Data.Sqlite.Migrations
{
    /// <summary>
    /// A channel's <c>wire</c> becomes the set of APIs its upstream serves, one bit per API (1 Responses, 2 Chat
    /// Completions, 4 Messages). Channels keep meaning what they meant: the old "responses" (0) served Responses and
    /// Chat Completions, the old "chat" (1) Chat Completions only.
    /// </summary>
    public partial class ChannelWireSets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("UPDATE channels SET wire = CASE wire WHEN 1 THEN 2 ELSE 3 END;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("UPDATE channels SET wire = CASE WHEN (wire & 1) = 1 THEN 0 ELSE 1 END;");
        }
    }
}
