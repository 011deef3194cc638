using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace TokenPool.Data.Postgres.Migrations
{
    /// <summary>
    /// The change feed across instances (see ChangeFeed): each change_log row records the transaction that wrote it, so
    /// that a reader takes only changes of transactions finished before its snapshot and can never skip one that commits
    /// after a later sequence number; and a committed change wakes every instance at once with NOTIFY tokenpool_changes.
    /// </summary>
    public partial class ChangeFeedOrder : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE change_log ADD COLUMN tx_id xid8 NOT NULL DEFAULT pg_current_xact_id();
                CREATE INDEX "IX_change_log_tx_id" ON change_log (tx_id);
                CREATE FUNCTION tokenpool_change_notify() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    PERFORM pg_notify('tokenpool_changes', '');
                    RETURN NULL;
                END
                $$;
                CREATE TRIGGER change_log_notify AFTER INSERT ON change_log FOR EACH STATEMENT EXECUTE FUNCTION tokenpool_change_notify();
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                DROP TRIGGER IF EXISTS change_log_notify ON change_log;
                DROP FUNCTION IF EXISTS tokenpool_change_notify();
                DROP INDEX IF EXISTS "IX_change_log_tx_id";
                ALTER TABLE change_log DROP COLUMN IF EXISTS tx_id;
                """);
        }
    }
}
