/**
 * Identifier keys and skeletons (issue 11, lookalike identities). Frozen in time: never edit a
 * migration that has shipped; add one.
 *
 * Adds the UTS #39 skeleton columns, lets a flagged row's email key be null, records collisions
 * in identifier_conflicts, recomputes every user's key and skeleton with today's profile
 * (renormalizeIdentifiers: a verified, then the oldest, user keeps a key; each later collision is reported with
 * both user ids, never failing the migration), then makes key and skeleton unique per tenant.
 * The service logs the number of conflicts at start-up; `auth-service identifier-conflicts` lists them.
 */
import { type Kysely, sql } from "kysely";
import { renormalizeIdentifiers } from "../identifier-keys.js";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("users")
    .addColumn("email_skeleton", "text")
    .addColumn("username_skeleton", "text")
    .alterColumn("email_normalized", (c) => c.dropNotNull())
    .execute();
  await db.schema.alterTable("users").dropConstraint("users_tenant_email_key").execute();
  await db.schema.alterTable("users").dropConstraint("users_tenant_username_key").execute();

  await db.schema
    .createTable("identifier_conflicts")
    .addColumn("user_id", "uuid", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("field", "text", (c) => c.notNull().check(sql`field in ('email', 'username')`))
    .addColumn("kind", "text", (c) => c.notNull().check(sql`kind in ('same_key', 'confusable', 'refused')`))
    .addColumn("other_user_id", "uuid", (c) => c.references("users.id").onDelete("set null"))
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("detected_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("identifier_conflicts_pkey", ["user_id", "field"])
    .execute();

  await renormalizeIdentifiers(db, new Date());

  // NULLs are distinct: any number of users without a username, or flagged.
  for (const [name, column] of [
    ["users_tenant_email_key", "email_normalized"],
    ["users_tenant_email_skeleton_key", "email_skeleton"],
    ["users_tenant_username_key", "username_normalized"],
    ["users_tenant_username_skeleton_key", "username_skeleton"],
  ] as const) {
    await db.schema.createIndex(name).on("users").columns(["tenant_id", column]).unique().execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of [
    "users_tenant_email_key",
    "users_tenant_email_skeleton_key",
    "users_tenant_username_key",
    "users_tenant_username_skeleton_key",
  ]) {
    await db.schema.dropIndex(name).execute();
  }
  await db.schema.dropTable("identifier_conflicts").execute();
  // Flagged rows have no key; the old rule (lower case) gives them one back, and may collide:
  // going down is for an empty or conflict-free database.
  await sql`update users set email_normalized = lower(email) where email_normalized is null`.execute(db);
  await db.schema
    .alterTable("users")
    .dropColumn("email_skeleton")
    .dropColumn("username_skeleton")
    .alterColumn("email_normalized", (c) => c.setNotNull())
    .execute();
  await db.schema.alterTable("users").addUniqueConstraint("users_tenant_email_key", ["tenant_id", "email_normalized"]).execute();
  await db.schema.alterTable("users").addUniqueConstraint("users_tenant_username_key", ["tenant_id", "username_normalized"]).execute();
}
