/**
 * users.session_epoch: a counter raised by every change that ends a user's access (password
 * change or reset, "log out everywhere", disabling), in the same statement as the change. A
 * request reads it with the user and the session store refuses its session when a later change
 * has been recorded there (see src/domain/session-epoch.ts). Frozen in time: add a migration,
 * never edit this one.
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("users")
    // integer, not bigint: both drivers read it as a number, and two billion changes to one user's
    // access will not happen.
    .addColumn("session_epoch", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("users").dropColumn("session_epoch").execute();
}
