using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace TokenPool.Data.Postgres.Migrations
{
    /// <summary>
    /// The lease top-up as one statement (see PostgresLedgerStore): it locks the account row first (the lock order every
    /// writer keeps: account, key, lease row), then moves the key's hold, the account's balance and the lease row, each
    /// with a conditional update that PostgreSQL re-checks against the latest committed row. Returns the outcome:
    /// 0 reserved, 1 key refused, 2 key spend limit, 3 account disabled, 4 insufficient quota. A refusal changes nothing.
    /// </summary>
    public partial class LedgerFunctions : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                CREATE FUNCTION tokenpool_top_up(p_lease text, p_account bigint, p_key bigint, p_amount bigint, p_now timestamptz, p_expires timestamptz)
                RETURNS integer LANGUAGE plpgsql AS $$
                DECLARE
                    v_disabled boolean;
                BEGIN
                    SELECT is_disabled INTO v_disabled FROM accounts WHERE id = p_account FOR UPDATE;
                    UPDATE api_keys SET reserved_micros = reserved_micros + p_amount
                    WHERE id = p_key AND status = 0 AND deleted_at IS NULL AND (expires_at IS NULL OR expires_at > p_now)
                      AND (spend_limit_micros IS NULL OR charged_micros + reserved_micros + p_amount <= spend_limit_micros);
                    IF NOT FOUND THEN
                        IF EXISTS (SELECT 1 FROM api_keys WHERE id = p_key AND status = 0 AND deleted_at IS NULL
                                   AND (expires_at IS NULL OR expires_at > p_now)) THEN
                            RETURN 2;
                        END IF;
                        RETURN 1;
                    END IF;
                    UPDATE accounts SET balance_micros = balance_micros - p_amount, reserved_micros = reserved_micros + p_amount
                    WHERE id = p_account AND NOT is_disabled AND (p_amount = 0 OR balance_micros >= p_amount);
                    IF NOT FOUND THEN
                        UPDATE api_keys SET reserved_micros = reserved_micros - p_amount WHERE id = p_key;
                        IF coalesce(v_disabled, false) THEN
                            RETURN 3;
                        END IF;
                        RETURN 4;
                    END IF;
                    INSERT INTO reservations (request_id, account_id, key_id, amount_micros, created_at, expires_at)
                    VALUES (p_lease, p_account, p_key, p_amount, p_now, p_expires)
                    ON CONFLICT (request_id) DO UPDATE
                        SET amount_micros = reservations.amount_micros + excluded.amount_micros, expires_at = excluded.expires_at;
                    RETURN 0;
                END
                $$;
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("DROP FUNCTION IF EXISTS tokenpool_top_up(text, bigint, bigint, bigint, timestamptz, timestamptz);");
        }
    }
}
