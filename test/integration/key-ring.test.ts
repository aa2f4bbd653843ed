/**
 * The database key ring on a real PostgreSQL: one active key however many instances start at once,
 * rotation, the verification window of retired keys, encryption at rest, reload on an unknown kid,
 * and every supported algorithm signing and verifying.
 */
import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JwtAlgorithm } from "../../src/config.js";
import { createAccessTokens } from "../../src/infra/crypto/access-tokens.js";
import { createDatabaseKeyRing } from "../../src/infra/crypto/key-ring.js";
import { migrateToLatest, openDatabase } from "../../src/infra/postgres/database.js";
import type { Database } from "../../src/infra/postgres/schema.js";
import { ensureActiveKey, loadKeys, rotateKeys } from "../../src/infra/postgres/signing-keys.js";
import { createTestDatabase, TestClock } from "../support/app.js";

const silent = pino({ level: "silent" });
const MINUTE = 60_000;

describe("the database key ring", () => {
  let db: Kysely<Database>;
  const kek = randomBytes(32);

  beforeAll(async () => {
    db = openDatabase({ url: await createTestDatabase(), dataDir: "unused", poolMax: 8, onPoolError: () => {} });
    await migrateToLatest(db);
  });
  afterAll(async () => {
    await db?.destroy();
  });

  it("creates exactly one active key when several instances start at once", async () => {
    const created = await Promise.all(Array.from({ length: 6 }, () => ensureActiveKey(db, kek, "ES256", new Date())));
    expect(created.filter(Boolean)).toHaveLength(1);
    const active = await db.selectFrom("signing_keys").select("kid").where("retired_at", "is", null).execute();
    expect(active).toHaveLength(1);
  });

  it("stores private keys encrypted, bound to their kid, and readable only with the right key", async () => {
    const rows = await db.selectFrom("signing_keys").selectAll().execute();
    for (const row of rows) {
      expect(row.private_key_sealed).not.toMatch(/"d"|"k"/);
      expect(row.public_jwk).not.toHaveProperty("d");
    }
    await expect(loadKeys(db, randomBytes(32), new Date(), MINUTE)).rejects.toThrow();
    const row = rows[0]!;
    await db
      .insertInto("signing_keys")
      .values({ ...row, kid: "moved", public_jwk: JSON.stringify(row.public_jwk) })
      .execute();
    await expect(loadKeys(db, kek, new Date(), MINUTE)).rejects.toThrow();
    await db.deleteFrom("signing_keys").where("kid", "=", "moved").execute();
  });

  it("rotates: the new key signs, the old one verifies until its tokens expire, then leaves the JWKS", async () => {
    const clock = new TestClock();
    const verifyForMs = 15 * MINUTE + 30_000;
    const ring = await createDatabaseKeyRing({ db, kek, verifyForMs, reloadIntervalMs: 3_600_000, clock, logger: silent });
    const tokens = createAccessTokens(ring, { issuer: "iss", audience: "api", ttlMs: 15 * MINUTE, clockSkewMs: 30_000 });
    const claims = {
      userId: "u1",
      tenant: "default",
      sessionId: "s1",
      roles: ["user"],
      email: "a@example.com",
      emailVerified: false,
      username: null,
      amr: ["pwd"],
    };
    const before = ring.signer().kid;
    const old = await tokens.issue(claims, clock.now());

    const { kid, retired } = await rotateKeys(db, kek, "ES256", new Date(clock.now()));
    expect(retired).toEqual([before]);
    await ring.reload();
    expect(ring.signer().kid).toBe(kid);
    expect(ring.publicJwks(clock.now()).map((jwk) => jwk.kid)).toEqual([kid, before]);
    expect(await tokens.verify(old.token, { audience: undefined, now: clock.now() })).toMatchObject({ active: true });

    clock.advance(verifyForMs + 1000);
    expect(ring.publicJwks(clock.now()).map((jwk) => jwk.kid)).toEqual([kid]);
    expect(await tokens.verify(old.token, { audience: undefined, now: clock.now() })).toMatchObject({ active: false });
    ring.close();
  });

  it("rereads the ring when a token names a kid it does not know, at most once per gap", async () => {
    const clock = new TestClock();
    const ring = await createDatabaseKeyRing({
      db,
      kek,
      verifyForMs: MINUTE,
      reloadIntervalMs: 3_600_000,
      clock,
      logger: silent,
      minReloadGapMs: 0,
    });
    const other = await createDatabaseKeyRing({ db, kek, verifyForMs: MINUTE, reloadIntervalMs: 3_600_000, clock, logger: silent });
    const { kid } = await rotateKeys(db, kek, "ES256", new Date(clock.now()));
    expect(await ring.find(kid, clock.now())).toBeDefined();
    // The second ring loaded less than its gap (5 s) ago: an unknown kid does not make it reread.
    expect(await other.find(kid, clock.now())).toBeUndefined();
    await other.reload();
    expect(await other.find(kid, clock.now())).toBeDefined();
    ring.close();
    other.close();
  });

  it.each(["ES256", "EdDSA", "RS256", "HS256"] as JwtAlgorithm[])(
    "signs and verifies with %s keys, and publishes only public keys",
    async (algorithm) => {
      const clock = new TestClock();
      await rotateKeys(db, kek, algorithm, new Date(clock.now()));
      const ring = await createDatabaseKeyRing({ db, kek, verifyForMs: MINUTE, reloadIntervalMs: 3_600_000, clock, logger: silent });
      expect(ring.signer().algorithm).toBe(algorithm);
      const tokens = createAccessTokens(ring, { issuer: "iss", audience: "api", ttlMs: MINUTE, clockSkewMs: 0 });
      const { token } = await tokens.issue(
        { userId: "u", tenant: "t", sessionId: "s", roles: [], email: "e@example.com", emailVerified: false, username: null, amr: ["pwd"] },
        clock.now(),
      );
      expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString())).toMatchObject({
        alg: algorithm,
        kid: ring.signer().kid,
      });
      expect(await tokens.verify(token, { audience: undefined, now: clock.now() })).toMatchObject({ active: true });
      const published = ring.publicJwks(clock.now());
      for (const jwk of published) expect(jwk).not.toHaveProperty("d");
      expect(published.some((jwk) => jwk.kid === ring.signer().kid)).toBe(algorithm !== "HS256");
      ring.close();
    },
  );
});
