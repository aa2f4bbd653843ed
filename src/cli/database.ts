/** The database as the commands open it: one connection, the embedded folder's lock, migrations first where asked. */
import { openDatabaseFor } from "../app/adapters.js";
import { type Config, loadConfig, readEnvironment } from "../config.js";
import { lockDataDir } from "../infra/postgres/data-dir-lock.js";
import { migrateToLatest } from "../infra/postgres/database.js";

export type Db = ReturnType<typeof openDatabaseFor>;

/**
 * Runs `work` on the database (one connection: a command does one thing at a time), and closes
 * it. With the embedded database, only while no running service holds the data folder.
 */
export async function withDatabase<T>(config: Config, command: string, work: (db: Db) => Promise<T>): Promise<T> {
  const lock = config.embedded.database ? lockDataDir(config.dataDir, `authward ${command}`) : undefined;
  const db = openDatabaseFor(config, {
    poolMax: 1,
    onPoolError: (error) => process.stderr.write(`PostgreSQL connection error: ${error.message}\n`),
  });
  try {
    return await work(db);
  } finally {
    await db.destroy();
    lock?.release();
  }
}

/** Runs `work` on the migrated database, and closes it. */
export function withMigratedDatabase<T>(config: Config, command: string, work: (db: Db) => Promise<T>): Promise<T> {
  return withDatabase(config, command, async (db) => {
    await migrateToLatest(db);
    return work(db);
  });
}

/** The configuration of a command that signs nothing and serves nothing. */
export const commandConfig = () => loadConfig(readEnvironment(process.env), { signingKeyRequired: false, serving: false });
