/**
 * Second factors: a TOTP factor per user (its secret sealed under KEY_ENCRYPTION_KEY, bound to the
 * user id) and its recovery codes (SHA-256 hashes). Frozen in time: add a migration, never edit
 * this one.
 */
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("mfa_factors")
    .addColumn("user_id", "uuid", (c) => c.primaryKey().references("users.id").onDelete("cascade"))
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull().defaultTo("totp").check(sql`type in ('totp')`))
    // The 160-bit secret, AES-256-GCM under KEY_ENCRYPTION_KEY with the user id as associated data.
    .addColumn("secret_sealed", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    // Null while the enrolment waits for its first code; MFA is on once set.
    .addColumn("confirmed_at", "timestamptz")
    // When a pending enrolment lapses; null once confirmed.
    .addColumn("enrollment_expires_at", "timestamptz")
    // The last RFC 6238 time step whose code was accepted: a code of that step or an earlier one
    // is refused (no replay within the window).
    .addColumn("last_used_step", "bigint")
    .addCheckConstraint("mfa_factors_pending_expires", sql`confirmed_at is not null or enrollment_expires_at is not null`)
    .execute();

  await db.schema
    .createTable("mfa_recovery_codes")
    .addColumn("user_id", "uuid", (c) => c.notNull().references("mfa_factors.user_id").onDelete("cascade"))
    // SHA-256 of the user id and the normalized code (80 random bits: no offline search reaches it).
    .addColumn("code_hash", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull())
    .addColumn("used_at", "timestamptz")
    .addPrimaryKeyConstraint("mfa_recovery_codes_pkey", ["user_id", "code_hash"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("mfa_recovery_codes").execute();
  await db.schema.dropTable("mfa_factors").execute();
}
