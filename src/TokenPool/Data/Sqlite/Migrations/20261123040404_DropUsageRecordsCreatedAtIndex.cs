using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace TokenPool.Data.Sqlite.Migrations
{
    /// <inheritdoc />
    public partial class DropUsageRecordsCreatedAtIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_usage_records_created_at",
                table: "usage_records");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_usage_records_created_at",
                table: "usage_records",
                column: "created_at");
        }
    }
}
