/**
 * Indexes on the login keys alone (email and username keys, without the tenant), for the one
 * lookup that searches every tenant: Vigia's login without X-Tenant ("legacy mode"), which must
 * cost one bounded read however many tenants there are. Frozen in time: add a migration, never
 * edit this one.
 */
import type { Kysely } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex("users_email_normalized_idx").on("users").column("email_normalized").execute();
  await db.schema.createIndex("users_username_normalized_idx").on("users").column("username_normalized").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("users_username_normalized_idx").execute();
  await db.schema.dropIndex("users_email_normalized_idx").execute();
}
