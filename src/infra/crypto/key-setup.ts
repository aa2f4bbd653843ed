/** Opens the key ring the configuration asks for (see key-ring.ts for the two kinds). */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Config } from "../../config.js";
import type { Clock } from "../../domain/ports.js";
import type { Database } from "../postgres/schema.js";
import { ensureActiveKey } from "../postgres/signing-keys.js";
import { createDatabaseKeyRing, createStaticKeyRing, type KeyRing } from "./key-ring.js";
import { parsePrivateKey, secretKeyFrom, signingKeyFrom } from "./keys.js";

/** The Redis channel on which `cli keys rotate` tells every instance to reload its ring. */
export const keyRotationChannel = (prefix: string) => `${prefix}keys:rotated`;

/**
 * The key-encryption key: KEY_ENCRYPTION_KEY, or in embedded mode one generated once into the data
 * folder (readable by its owner only).
 */
export function keyEncryptionKey(config: Config): Buffer {
  if (config.jwt.keyEncryptionKey !== undefined) return Buffer.from(config.jwt.keyEncryptionKey, "base64");
  const file = join(config.dataDir, "keys", "key-encryption-key");
  if (!existsSync(file)) {
    mkdirSync(join(config.dataDir, "keys"), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString("base64"), { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
  }
  return Buffer.from(readFileSync(file, "utf8").trim(), "base64");
}

/**
 * The key that seals second-factor secrets: the key-encryption key when there is one (always in
 * embedded mode, which generates it). A deployment that pins its signing key (JWT_PRIVATE_KEY,
 * JWT_SECRET) without KEY_ENCRYPTION_KEY has none: enrolment then answers MFA_UNAVAILABLE
 * (FAILED_PRECONDITION) rather than keep TOTP secrets unencrypted.
 */
export function secondFactorKey(config: Config): Buffer | undefined {
  if (config.jwt.keyEncryptionKey === undefined && !config.embedded.database) return undefined;
  return keyEncryptionKey(config);
}

export async function openKeyRing(config: Config, db: Kysely<Database>, clock: Clock, logger: Logger): Promise<KeyRing> {
  const { algorithm } = config.jwt;
  if (config.jwt.keySource === "configured") {
    const privateKey =
      algorithm === "HS256" ? secretKeyFrom(config.jwt.secret ?? "") : parsePrivateKey(algorithm, config.jwt.privateKey ?? "");
    const key = await signingKeyFrom(algorithm, privateKey);
    logger.info(
      { algorithm, kid: key.kid, from: algorithm === "HS256" ? "JWT_SECRET" : "JWT_PRIVATE_KEY" },
      "signing with a configured key",
    );
    return createStaticKeyRing(key);
  }
  const kek = keyEncryptionKey(config);
  if (await ensureActiveKey(db, kek, algorithm, new Date(clock.now())))
    logger.info({ algorithm }, "created the first signing key of the ring");
  const ring = await createDatabaseKeyRing({
    db,
    kek,
    verifyForMs: config.policy.accessTokenTtlMs + config.jwt.clockSkewMs,
    reloadIntervalMs: config.jwt.keyReloadIntervalMs,
    clock,
    logger,
  });
  const signer = ring.signer();
  logger.info({ algorithm: signer.algorithm, kid: signer.kid }, "signing with the database key ring");
  if (signer.algorithm !== algorithm) {
    logger.warn(
      { active: signer.algorithm, configured: algorithm },
      "JWT_ALGORITHM differs from the active key's algorithm; run `cli keys rotate` to switch (old keys keep verifying until their tokens expire)",
    );
  }
  return ring;
}
