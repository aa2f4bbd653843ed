/** `keys rotate`, `keys list` and `keys generate`: the signing key ring, operated from the command line. */
import { type Config, JWT_ALGORITHMS, type JwtAlgorithm } from "../config.js";
import { keyEncryptionKey, keyRotationChannel } from "../infra/crypto/key-setup.js";
import { generatePrivateKeyPem } from "../infra/crypto/keys.js";
import { listKeys, rotateKeys } from "../infra/postgres/signing-keys.js";
import { closeRedis, openRedis, waitForRedis } from "../infra/redis/client.js";
import { publish } from "../infra/redis/pubsub.js";
import { withMigratedDatabase } from "./database.js";

/** Makes a new key the signer and tells running instances through Redis. */
export async function rotate(config: Config): Promise<number> {
  if (config.jwt.keySource !== "ring") {
    process.stderr.write("keys rotate: this deployment signs with a configured key (JWT_PRIVATE_KEY or JWT_SECRET), not the key ring\n");
    return 1;
  }
  await withMigratedDatabase(config, "keys rotate", async (db) => {
    const { kid, retired } = await rotateKeys(db, keyEncryptionKey(config), config.jwt.algorithm, new Date());
    process.stdout.write(`new signing key ${kid} (${config.jwt.algorithm}) is active; retired: ${retired.join(", ") || "none"}\n`);
    process.stdout.write(
      `retired keys verify for ${(config.policy.accessTokenTtlMs + config.jwt.clockSkewMs) / 1000} s more, then leave the JWKS\n`,
    );
  });
  if (!config.embedded.redis) {
    const redis = await openRedis(config.redis, { onError: () => {} });
    try {
      if (!(await waitForRedis(redis, 5000))) throw new Error("Redis is not reachable");
      const listeners = await publish(redis, keyRotationChannel(config.redisKeyPrefix), "rotated");
      process.stdout.write(`told ${listeners} running instance(s)\n`);
    } catch (error) {
      process.stdout.write(
        `could not tell running instances (${(error as Error).message}); they pick the key up within KEY_RELOAD_INTERVAL\n`,
      );
    } finally {
      await closeRedis(redis);
    }
  }
  return 0;
}

/** The ring's keys and their state, never their material. */
export async function list(config: Config): Promise<number> {
  await withMigratedDatabase(config, "keys list", async (db) => {
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
  });
  return 0;
}

/** `keys generate`: prints a new private key (PKCS#8 PEM) of `name` (default ES256); false for an algorithm that has none. */
export function generateKey(name: string | undefined): boolean {
  const algorithm = (name ?? "ES256") as JwtAlgorithm;
  if (!JWT_ALGORITHMS.includes(algorithm) || algorithm === "HS256") return false;
  process.stdout.write(generatePrivateKeyPem(algorithm));
  return true;
}
