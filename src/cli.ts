/**
 * Operator commands:
 * - `migrate`: runs the database migrations (the service also runs them at start-up);
 * - `keys generate`: prints a new ES256 private key (PKCS#8 PEM) for JWT_PRIVATE_KEY_FILE;
 * - `keys ensure <file>`: writes a new key to <file> (mode 0600) unless the file exists.
 * Usage: npm run cli -- <command>   (compiled: node dist/cli.js <command>)
 */
import { existsSync, writeFileSync } from "node:fs";
import { loadConfig } from "./config.js";
import { generateEs256PrivateKeyPem } from "./infra/crypto/keys.js";
import { ensureTenant, migrateToLatest, openDatabase } from "./infra/postgres/database.js";

const usage = "usage: cli migrate | cli keys generate | cli keys ensure <file>";

async function main(argv: readonly string[]): Promise<number> {
  const [command, sub] = argv;
  if (command === "keys" && sub === "generate") {
    process.stdout.write(generateEs256PrivateKeyPem());
    return 0;
  }
  if (command === "keys" && sub === "ensure" && argv[2] !== undefined) {
    const file = argv[2];
    if (existsSync(file)) {
      process.stdout.write(`${file} exists; left as it is\n`);
    } else {
      writeFileSync(file, generateEs256PrivateKeyPem(), { mode: 0o600, flag: "wx" });
      process.stdout.write(`wrote a new ES256 key to ${file}\n`);
    }
    return 0;
  }
  if (command === "migrate") {
    const config = loadConfig(process.env, { signingKeyRequired: false });
    const db = openDatabase({
      url: config.databaseUrl,
      dataDir: config.dataDir,
      poolMax: 1,
      onPoolError: (error) => process.stderr.write(`PostgreSQL connection error: ${error.message}\n`),
    });
    try {
      const applied = await migrateToLatest(db);
      await ensureTenant(db, config.defaultTenant, config.defaultTenant);
      process.stdout.write(applied.length > 0 ? `applied: ${applied.join(", ")}\n` : "database is up to date\n");
    } finally {
      await db.destroy();
    }
    return 0;
  }
  process.stderr.write(`${usage}\n`);
  return 64;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
