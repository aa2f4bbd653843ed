/**
 * Opens the user store: PostgreSQL through a pg pool, or PGlite in the data folder when no
 * DATABASE_URL is configured. Both go through the same Kysely queries and the same migrations.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Dialect, Kysely, Migrator, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { migrationProvider } from "./migrations/index.js";
import { PGliteDialect } from "./pglite-dialect.js";
import type { Database } from "./schema.js";
import { type QueryObserver, UnavailableTranslatingDialect } from "./unavailable.js";

export interface DatabaseOptions {
  /** PostgreSQL URL, or undefined for embedded PGlite under `dataDir`. */
  readonly url: string | undefined;
  readonly dataDir: string;
  readonly poolMax: number;
  /** Told about pool-level errors (an idle connection dropped), which must not crash the process. */
  readonly onPoolError: (error: Error) => void;
  /** Told each time a query finds PostgreSQL unreachable. */
  readonly onUnavailable?: () => void;
  /** Runs around every query (tracing's spans). */
  readonly observeQuery?: QueryObserver;
}

export function openDatabase(options: DatabaseOptions): Kysely<Database> {
  let dialect: Dialect;
  if (options.url !== undefined) {
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolMax,
      // Fail fast when PostgreSQL is down, so callers get UNAVAILABLE instead of hanging.
      connectionTimeoutMillis: 3000,
      idleTimeoutMillis: 30_000,
      statement_timeout: 10_000,
      query_timeout: 12_000,
    });
    // pg emits "error" on a client whose connection drops; the pool listens only while a client
    // is idle, so a drop during a query would be an uncaught exception and kill the process.
    // Every client gets a listener of its own (the query itself fails and reports UNAVAILABLE).
    pool.on("connect", (client) => client.on("error", options.onPoolError));
    pool.on("error", () => {
      // Already reported by the client's own listener above.
    });
    dialect = new PostgresDialect({ pool });
  } else {
    const dir = join(options.dataDir, "pglite");
    mkdirSync(dir, { recursive: true });
    dialect = new PGliteDialect(async () => {
      const { PGlite } = await import("@electric-sql/pglite");
      return PGlite.create(dir);
    });
  }
  return new Kysely<Database>({ dialect: new UnavailableTranslatingDialect(dialect, options.onUnavailable, options.observeQuery) });
}

/** Runs every pending migration; throws with the failing migration's error. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) throw error;
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

/** Roles every tenant starts with. */
export const BASE_ROLES: readonly string[] = ["admin", "user"];

/** Creates the tenant and its base roles if they do not exist yet (idempotent). */
export async function ensureTenant(db: Kysely<Database>, id: string, name: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx
      .insertInto("tenants")
      .values({ id, name })
      .onConflict((oc) => oc.column("id").doNothing())
      .execute();
    await tx
      .insertInto("roles")
      .values(BASE_ROLES.map((role) => ({ tenant_id: id, name: role })))
      .onConflict((oc) => oc.columns(["tenant_id", "name"]).doNothing())
      .execute();
  });
}

/** Readiness probe: one round trip. */
export async function pingDatabase(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
