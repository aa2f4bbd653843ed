/**
 * The key ring's storage in PostgreSQL. Rotation and first-key creation take one advisory lock, so
 * that instances starting together, or two operators rotating at once, never leave two active keys.
 */

import { createPrivateKey, createSecretKey } from "node:crypto";
import { type Kysely, sql } from "kysely";
import type { JwtAlgorithm } from "../../config.js";
import { open, seal } from "../crypto/envelope.js";
import { generatePrivateKey, privateJwkOf, type SigningKey, signingKeyFrom } from "../crypto/keys.js";
import type { Database } from "./schema.js";

/** An arbitrary, fixed advisory lock number for key-ring changes. */
const KEY_RING_LOCK = 720_111;

export interface StoredKey {
  readonly key: SigningKey;
  readonly activatedAt: Date;
  readonly retiredAt: Date | null;
}

async function insertNewKey(tx: Kysely<Database>, kek: Buffer, algorithm: JwtAlgorithm, now: Date): Promise<string> {
  const key = await signingKeyFrom(algorithm, generatePrivateKey(algorithm));
  await tx
    .insertInto("signing_keys")
    .values({
      kid: key.kid,
      algorithm,
      public_jwk: key.publicJwk === undefined ? null : JSON.stringify(key.publicJwk),
      private_key_sealed: seal(kek, JSON.stringify(privateJwkOf(key.signingKey)), key.kid),
      created_at: now,
      activated_at: now,
      retired_at: null,
    })
    .execute();
  return key.kid;
}

/** Creates the first key if no key is active; returns whether it did. */
export async function ensureActiveKey(db: Kysely<Database>, kek: Buffer, algorithm: JwtAlgorithm, now: Date): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(${KEY_RING_LOCK})`.execute(tx);
    const active = await tx.selectFrom("signing_keys").select("kid").where("retired_at", "is", null).executeTakeFirst();
    if (active !== undefined) return false;
    await insertNewKey(tx, kek, algorithm, now);
    return true;
  });
}

/** Retires the active key and makes a new one of `algorithm` the signer; returns the new kid. */
export async function rotateKeys(
  db: Kysely<Database>,
  kek: Buffer,
  algorithm: JwtAlgorithm,
  now: Date,
): Promise<{ kid: string; retired: string[] }> {
  return db.transaction().execute(async (tx) => {
    await sql`select pg_advisory_xact_lock(${KEY_RING_LOCK})`.execute(tx);
    const retired = await tx
      .updateTable("signing_keys")
      .set({ retired_at: now })
      .where("retired_at", "is", null)
      .returning("kid")
      .execute();
    const kid = await insertNewKey(tx, kek, algorithm, now);
    return { kid, retired: retired.map((r) => r.kid) };
  });
}

/** Every key that may still verify a token at `now` (retired less than `verifyForMs` ago), decrypted. */
export async function loadKeys(db: Kysely<Database>, kek: Buffer, now: Date, verifyForMs: number): Promise<StoredKey[]> {
  const rows = await db
    .selectFrom("signing_keys")
    .selectAll()
    .where((eb) => eb.or([eb("retired_at", "is", null), eb("retired_at", ">", new Date(now.getTime() - verifyForMs))]))
    .orderBy("activated_at", "desc")
    .execute();
  return Promise.all(
    rows.map(async (row) => {
      const jwk = JSON.parse(open(kek, row.private_key_sealed, row.kid));
      const algorithm = row.algorithm as JwtAlgorithm;
      const privateKey =
        algorithm === "HS256" ? createSecretKey(Buffer.from(jwk.k, "base64url")) : createPrivateKey({ key: jwk, format: "jwk" });
      const key = await signingKeyFrom(algorithm, privateKey);
      if (key.kid !== row.kid) throw new Error(`signing key ${row.kid} does not match its stored kid`);
      return { key, activatedAt: row.activated_at, retiredAt: row.retired_at };
    }),
  );
}

/** Every key ever stored, newest first, for `cli keys list` (no key material). */
export async function listKeys(db: Kysely<Database>) {
  return db
    .selectFrom("signing_keys")
    .select(["kid", "algorithm", "created_at", "activated_at", "retired_at"])
    .orderBy("activated_at", "desc")
    .execute();
}
