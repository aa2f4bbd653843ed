/**
 * Operator commands:
 * - `migrate`: runs the database migrations (the service also runs them at start-up);
 * - `keys rotate`: makes a new key of JWT_ALGORITHM the signer of the database key ring and tells
 *   running instances (through Redis); old keys keep verifying until their tokens expire;
 * - `keys list`: the ring's keys and their state (no key material);
 * - `keys generate [ES256|EdDSA|RS256]`: prints a new private key (PKCS#8 PEM) for
 *   JWT_PRIVATE_KEY_FILE, for deployments that pin one key instead of using the ring.
 * Usage: npm run cli -- <command>, or npm run keys -- <rotate|list|generate>
 * (compiled: node dist/cli.js <command>).
 */
import { Redis } from "ioredis";
import { type Config, JWT_ALGORITHMS, type JwtAlgorithm, loadConfig } from "./config.js";
import { keyEncryptionKey, keyRotationChannel } from "./infra/crypto/key-setup.js";
import { generatePrivateKeyPem } from "./infra/crypto/keys.js";
import { ensureTenant, migrateToLatest, openDatabase } from "./infra/postgres/database.js";
import { listKeys, rotateKeys } from "./infra/postgres/signing-keys.js";

const usage = "usage: cli migrate | cli keys rotate | cli keys list | cli keys generate [ES256|EdDSA|RS256]";

function database(config: Config) {
  return openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
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
      `retired keys verify for ${(config.accessTokenTtlMs + config.jwt.clockSkewMs) / 1000} s more, then leave the JWKS\n`,
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
    const verifyForMs = config.accessTokenTtlMs + config.jwt.clockSkewMs;
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

async function main(argv: readonly string[]): Promise<number> {
  const [command, sub, arg] = argv;
  if (command === "keys" && sub === "generate") {
    const algorithm = (arg ?? "ES256") as JwtAlgorithm;
    if (!JWT_ALGORITHMS.includes(algorithm) || algorithm === "HS256") {
      process.stderr.write(`${usage}\n`);
      return 64;
    }
    process.stdout.write(generatePrivateKeyPem(algorithm));
    return 0;
  }
  if (command === "keys" && sub === "rotate") return rotate(loadConfig(process.env));
  if (command === "keys" && sub === "list") return list(loadConfig(process.env, { signingKeyRequired: false }));
  if (command === "migrate") {
    const config = loadConfig(process.env, { signingKeyRequired: false });
    const db = database(config);
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
