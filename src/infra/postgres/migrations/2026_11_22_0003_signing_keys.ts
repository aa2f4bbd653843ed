/** The key ring of access-token signing keys. Frozen in time: add a migration, never edit this one. */
import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("signing_keys")
    .addColumn("kid", "text", (c) => c.primaryKey())
    .addColumn("algorithm", "text", (c) => c.notNull())
    // The public JWK served in the JWKS; null for HS256.
    .addColumn("public_jwk", "jsonb")
    // The private JWK, AES-256-GCM under KEY_ENCRYPTION_KEY with the kid as associated data.
    .addColumn("private_key_sealed", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    // Signs from activated_at until retired_at (when the next key took over); verifies until every
    // token it signed has expired.
    .addColumn("activated_at", "timestamptz", (c) => c.notNull())
    .addColumn("retired_at", "timestamptz")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("signing_keys").execute();
}
