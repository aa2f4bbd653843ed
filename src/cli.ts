#!/usr/bin/env node
/**
 * Operator commands (the package's `authward` bin):
 * - `migrate`: runs the database migrations (the service also runs them at start-up);
 * - `create-admin --email <address> [--username u] [--full-name n] [--tenant t] [--password-stdin]`:
 *   an administrator of a tenant (see cli/create-admin.ts);
 * - `import-users <file.csv|file.jsonl> [--tenant t]`: users with their existing password hashes
 *   (see cli/import-users.ts);
 * - `identifier-conflicts [--renormalize]`: users whose email or username collided with an earlier
 *   user's when identifier keys were computed (see cli/identifier-conflicts.ts);
 * - `disable` / `enable` `--email <address> [--tenant t] | --user-id <uuid>` `[--reason <text>]`:
 *   disables a user (every session ends at once, on every instance) or enables them again (see
 *   cli/user-status.ts);
 * - `keys rotate`: makes a new key of JWT_ALGORITHM the signer of the database key ring and tells
 *   running instances (through Redis); old keys keep verifying until their tokens expire;
 * - `keys list`: the ring's keys and their state (no key material);
 * - `keys generate [ES256|EdDSA|RS256]`: prints a new private key (PKCS#8 PEM) for
 *   JWT_PRIVATE_KEY_FILE, for deployments that pin one key instead of using the ring.
 * Usage: npm run cli -- <command>, or npm run keys -- <rotate|list|generate>
 * (compiled: node dist/cli.js <command>).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { openDatabaseFor } from "./app/adapters.js";
import { createAdmin } from "./cli/create-admin.js";
import { identifierConflicts } from "./cli/identifier-conflicts.js";
import { importUsers, parseCsv, parseJsonl } from "./cli/import-users.js";
import { runUserStatusCommand } from "./cli/user-status.js";
import { type Config, JWT_ALGORITHMS, type JwtAlgorithm, loadConfig, readEnvironment } from "./config.js";
import { keyEncryptionKey, keyRotationChannel } from "./infra/crypto/key-setup.js";
import { generatePrivateKeyPem } from "./infra/crypto/keys.js";
import { ensureTenant, migrateToLatest } from "./infra/postgres/database.js";
import { listKeys, rotateKeys } from "./infra/postgres/signing-keys.js";
import { openRedis, waitForRedis } from "./infra/redis/client.js";
import { createLogger } from "./logger.js";

const usage = [
  "usage: authward migrate",
  "       authward create-admin --email <address> [--username <name>] [--full-name <name>] [--tenant <slug>] [--password-stdin]",
  "       authward import-users <file.csv|file.jsonl> [--tenant <slug>]",
  "       authward identifier-conflicts [--renormalize]",
  "       authward disable|enable (--email <address> [--tenant <slug>] | --user-id <uuid>) [--reason <text>]",
  "       authward keys rotate | keys list | keys generate [ES256|EdDSA|RS256]",
].join("\n");

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

/** One connection: a command does one thing at a time. */
function database(config: Config) {
  return openDatabaseFor(config, {
    poolMax: 1,
    onPoolError: (error) => process.stderr.write(`PostgreSQL connection error: ${error.message}\n`),
  });
}

async function rotate(config: Config): Promise<number> {
  if (config.jwt.keySource !== "ring") {
    process.stderr.write("keys rotate: this deployment signs with a configured key (JWT_PRIVATE_KEY or JWT_SECRET), not the key ring\n");
    return 1;
  }
  const db = database(config);
  try {
    await migrateToLatest(db);
    const { kid, retired } = await rotateKeys(db, keyEncryptionKey(config), config.jwt.algorithm, new Date());
    process.stdout.write(`new signing key ${kid} (${config.jwt.algorithm}) is active; retired: ${retired.join(", ") || "none"}\n`);
    process.stdout.write(
      `retired keys verify for ${(config.policy.accessTokenTtlMs + config.jwt.clockSkewMs) / 1000} s more, then leave the JWKS\n`,
    );
  } finally {
    await db.destroy();
  }
  if (config.redisUrl !== undefined) {
    const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 2000 });
    try {
      const listeners = await redis.publish(keyRotationChannel(config.redisKeyPrefix), "rotated");
      process.stdout.write(`told ${listeners} running instance(s)\n`);
    } catch (error) {
      process.stdout.write(
        `could not tell running instances (${(error as Error).message}); they pick the key up within KEY_RELOAD_INTERVAL\n`,
      );
    } finally {
      redis.disconnect();
    }
  }
  return 0;
}

async function list(config: Config): Promise<number> {
  const db = database(config);
  try {
    await migrateToLatest(db);
    const verifyForMs = config.policy.accessTokenTtlMs + config.jwt.clockSkewMs;
    const now = Date.now();
    for (const key of await listKeys(db)) {
      const state =
        key.retired_at === null
          ? "active (signs)"
          : key.retired_at.getTime() + verifyForMs > now
            ? "retired (still verifies)"
            : "retired (expired)";
      process.stdout.write(`${key.kid}  ${key.algorithm}  ${state}  activated ${key.activated_at.toISOString()}\n`);
    }
  } finally {
    await db.destroy();
  }
  return 0;
}

async function userStatus(action: "disable" | "enable", args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: { email: { type: "string" }, tenant: { type: "string" }, "user-id": { type: "string" }, reason: { type: "string" } },
  });
  const config = commandConfig();
  if (config.redisUrl === undefined) {
    // The embedded stand-in lives inside the service's process, and forgets every session when it
    // restarts: only the database changes here.
    process.stderr.write("no REDIS_URL: the embedded service's sessions end when it restarts\n");
  }
  // Audit events are written to the database; only problems reach standard error.
  const logger = createLogger("warn", process.stderr);
  const redis = await openRedis(config.redisUrl, (error) => process.stderr.write(`Redis connection error: ${error.message}\n`));
  const db = database(config);
  try {
    if (!(await waitForRedis(redis, 5000))) throw new Error("Redis is not reachable: nothing was changed");
    await migrateToLatest(db);
    process.stdout.write(
      `${await runUserStatusCommand(db, redis, config, logger, {
        action,
        email: values.email,
        tenant: values.tenant ?? config.policy.defaultTenant,
        userId: values["user-id"],
        reason: values.reason,
        operator: process.env.USER,
      })}\n`,
    );
    return 0;
  } finally {
    redis.disconnect();
    await db.destroy();
  }
}

/** The configuration of a command that signs nothing and serves nothing. */
const commandConfig = () => loadConfig(readEnvironment(process.env), { signingKeyRequired: false, serving: false });

/** Runs `work` on the migrated database, and closes it. */
async function withMigratedDatabase<T>(config: Config, work: (db: ReturnType<typeof database>) => Promise<T>): Promise<T> {
  const db = database(config);
  try {
    await migrateToLatest(db);
    return await work(db);
  } finally {
    await db.destroy();
  }
}

function generateKey(name: string | undefined): number {
  const algorithm = (name ?? "ES256") as JwtAlgorithm;
  if (!JWT_ALGORITHMS.includes(algorithm) || algorithm === "HS256") {
    process.stderr.write(`${usage}\n`);
    return 64;
  }
  process.stdout.write(generatePrivateKeyPem(algorithm));
  return 0;
}

async function createAdminCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      email: { type: "string" },
      username: { type: "string" },
      "full-name": { type: "string" },
      tenant: { type: "string" },
      "password-stdin": { type: "boolean" },
    },
  });
  const config = commandConfig();
  const password = values["password-stdin"] ? await readStdin() : config.adminPassword;
  const input = {
    email: values.email ?? "",
    username: values.username,
    fullName: values["full-name"],
    tenant: values.tenant ?? config.policy.defaultTenant,
    password,
  };
  process.stdout.write(`${await withMigratedDatabase(config, (db) => createAdmin(db, config, input))}\n`);
  return 0;
}

async function importUsersCommand(args: readonly string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: [...args], allowPositionals: true, options: { tenant: { type: "string" } } });
  const file = positionals[0];
  if (file === undefined) {
    process.stderr.write(`${usage}\n`);
    return 64;
  }
  const config = commandConfig();
  const content = readFileSync(file, "utf8");
  const rows = file.toLowerCase().endsWith(".csv") ? parseCsv(content) : parseJsonl(content);
  const tenant = (values.tenant ?? config.policy.defaultTenant).toLowerCase();
  const report = await withMigratedDatabase(config, (db) => importUsers(db, rows, { tenant }));
  for (const created of report.tenantsCreated) process.stdout.write(`created tenant ${created}\n`);
  for (const { line, reason } of report.skipped) process.stdout.write(`line ${line}: skipped (${reason})\n`);
  for (const { line, reason } of report.failed) process.stdout.write(`line ${line}: failed: ${reason}\n`);
  process.stdout.write(`imported ${report.imported}, skipped ${report.skipped.length}, failed ${report.failed.length}\n`);
  return report.failed.length > 0 ? 1 : 0;
}

async function identifierConflictsCommand(args: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...args], options: { renormalize: { type: "boolean" } } });
  const lines = await withMigratedDatabase(commandConfig(), (db) => identifierConflicts(db, { renormalize: values.renormalize ?? false }));
  for (const line of lines) process.stdout.write(`${line}\n`);
  return 0;
}

async function migrate(): Promise<number> {
  const config = commandConfig();
  const db = database(config);
  try {
    const applied = await migrateToLatest(db);
    await ensureTenant(db, config.policy.defaultTenant, config.policy.defaultTenant);
    process.stdout.write(applied.length > 0 ? `applied: ${applied.join(", ")}\n` : "database is up to date\n");
  } finally {
    await db.destroy();
  }
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, sub, arg] = argv;
  const args = argv.slice(1);
  if (command === "create-admin") return createAdminCommand(args);
  if (command === "import-users") return importUsersCommand(args);
  if (command === "identifier-conflicts") return identifierConflictsCommand(args);
  if (command === "migrate") return migrate();
  if (command === "disable" || command === "enable") return userStatus(command, args);
  if (command === "keys" && sub === "generate") return generateKey(arg);
  if (command === "keys" && sub === "rotate") return rotate(loadConfig(readEnvironment(process.env), { serving: false }));
  if (command === "keys" && sub === "list") return list(commandConfig());
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
