/**
 * The second-factor store on a real PostgreSQL and on embedded PGlite, and the MFA ticket store on
 * a real Redis and on the embedded stand-in: each promise that must hold once under concurrency
 * (a time step accepted, a recovery code spent, an enrolment confirmed, a ticket taken) raced by
 * parallel callers, and what is stored checked in the tables.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import RedisMock from "ioredis-mock";
import type { Kysely } from "kysely";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { MfaTicketRecord, SecondFactorStore } from "../../src/domain/ports.js";
import { ensureTenant, migrateToLatest, openDatabase } from "../../src/infra/postgres/database.js";
import type { Database } from "../../src/infra/postgres/schema.js";
import { createSecondFactorStore } from "../../src/infra/postgres/second-factors.js";
import { createUserRepository } from "../../src/infra/postgres/users.js";
import { createMfaTickets } from "../../src/infra/redis/mfa-tickets.js";
import { createTestDatabase } from "../support/app.js";

const dirs: string[] = [];
const at = new Date("2026-11-25T10:00:00Z");
const later = (ms: number) => new Date(at.getTime() + ms);

describe.each([
  ["PostgreSQL", async () => openDatabase({ url: await createTestDatabase(), dataDir: "unused", poolMax: 8, onPoolError: () => {} })],
  [
    "embedded PGlite",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "auth-pglite-"));
      dirs.push(dir);
      return openDatabase({ url: undefined, dataDir: dir, poolMax: 1, onPoolError: () => {} });
    },
  ],
])("the second-factor store on %s", (_, open) => {
  let db: Kysely<Database>;
  let store: SecondFactorStore;

  beforeAll(async () => {
    db = await open();
    await migrateToLatest(db);
    await ensureTenant(db, "default", "default");
    store = createSecondFactorStore(db);
  }, 60_000);
  afterAll(async () => {
    await db?.destroy();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  async function userId(): Promise<string> {
    const user = await createUserRepository(db).create({
      tenant: "default",
      email: `f.${randomUUID()}@example.com`,
      username: null,
      fullName: null,
      passwordHash: "$bcrypt-sha256$v=2,t=2b,r=4$placeholder",
      roles: ["user"],
    });
    return user.id;
  }

  async function enrolled(codes = ["h1", "h2", "h3"]): Promise<string> {
    const id = await userId();
    expect(await store.beginEnrollment({ userId: id, tenant: "default", sealedSecret: "sealed-1", at, expiresAt: later(60_000) })).toBe(
      true,
    );
    expect(
      await store.confirmEnrollment({ userId: id, sealedSecret: "sealed-1", step: 100, at: later(1000), recoveryCodeHashes: codes }),
    ).toBe(true);
    return id;
  }

  it("confirms only the enrolment it was shown, only before it lapses, and only once", async () => {
    const id = await userId();
    await store.beginEnrollment({ userId: id, tenant: "default", sealedSecret: "first", at, expiresAt: later(60_000) });
    // Begun again: the first secret no longer confirms.
    await store.beginEnrollment({ userId: id, tenant: "default", sealedSecret: "second", at, expiresAt: later(60_000) });
    const confirm = (sealedSecret: string, when: Date) =>
      store.confirmEnrollment({ userId: id, sealedSecret, step: 7, at: when, recoveryCodeHashes: ["a", "b"] });
    expect(await confirm("first", later(1000))).toBe(false);
    expect(await confirm("second", later(61_000))).toBe(false);
    const raced = await Promise.all(Array.from({ length: 8 }, () => confirm("second", later(1000))));
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await store.find(id)).toMatchObject({
      sealedSecret: "second",
      confirmedAt: later(1000),
      enrollmentExpiresAt: null,
      recoveryCodesLeft: 2,
    });
    // A confirmed factor is not replaced by beginning again.
    expect(await store.beginEnrollment({ userId: id, tenant: "default", sealedSecret: "third", at, expiresAt: later(60_000) })).toBe(false);
    expect((await store.find(id))?.sealedSecret).toBe("second");
  });

  it("accepts each time step once and never an earlier one, of parallel callers exactly one", async () => {
    const id = await enrolled();
    // Confirmation recorded step 100.
    expect(await store.acceptStep(id, 100)).toBe(false);
    expect(await store.acceptStep(id, 99)).toBe(false);
    const raced = await Promise.all(Array.from({ length: 12 }, () => store.acceptStep(id, 101)));
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect(await store.acceptStep(id, 103)).toBe(true);
    expect(await store.acceptStep(id, 102)).toBe(false);
    const row = await db.selectFrom("mfa_factors").select("last_used_step").where("user_id", "=", id).executeTakeFirstOrThrow();
    expect(Number(row.last_used_step)).toBe(103);
  });

  it("spends a recovery code once, of parallel callers exactly one, and replacing the codes voids the old ones", async () => {
    const id = await enrolled(["c1", "c2"]);
    const raced = await Promise.all(Array.from({ length: 10 }, () => store.useRecoveryCode(id, "c1", later(2000))));
    expect(raced.filter(Boolean)).toHaveLength(1);
    expect((await store.find(id))?.recoveryCodesLeft).toBe(1);
    expect(await store.replaceRecoveryCodes(id, ["n1", "n2", "n3"], later(3000))).toBe(true);
    expect(await store.useRecoveryCode(id, "c2", later(4000))).toBe(false);
    expect(await store.useRecoveryCode(id, "n2", later(4000))).toBe(true);
    const rows = await db
      .selectFrom("mfa_recovery_codes")
      .select(["code_hash", "used_at"])
      .where("user_id", "=", id)
      .orderBy("code_hash")
      .execute();
    expect(rows).toEqual([
      { code_hash: "n1", used_at: null },
      { code_hash: "n2", used_at: later(4000) },
      { code_hash: "n3", used_at: null },
    ]);
  });

  it("refuses steps, codes and regeneration for a factor that is only pending, and removes a factor with its codes", async () => {
    const pending = await userId();
    await store.beginEnrollment({ userId: pending, tenant: "default", sealedSecret: "p", at, expiresAt: later(60_000) });
    expect(await store.acceptStep(pending, 5)).toBe(false);
    expect(await store.replaceRecoveryCodes(pending, ["x"], at)).toBe(false);

    const id = await enrolled();
    expect(await store.remove(id)).toBe(1);
    expect(await store.remove(id)).toBe(0);
    expect(await store.find(id)).toBeNull();
    expect(await db.selectFrom("mfa_recovery_codes").select("code_hash").where("user_id", "=", id).execute()).toEqual([]);
    // Deleting a user deletes their factor.
    const gone = await enrolled();
    await db.deleteFrom("user_roles").where("user_id", "=", gone).execute();
    await db.deleteFrom("users").where("id", "=", gone).execute();
    expect(await store.find(gone)).toBeNull();
  });
});

describe.each([
  ["a real Redis", () => new Redis(inject("redisUrl"))],
  ["the embedded stand-in", () => new RedisMock() as unknown as Redis],
])("the MFA ticket store on %s", (_, connect) => {
  let redis: Redis;
  const prefix = `tk${randomUUID().slice(0, 6)}:`;
  beforeAll(() => {
    redis = connect();
  });
  afterAll(() => redis?.disconnect());

  const record = (overrides: Partial<MfaTicketRecord> = {}): MfaTicketRecord => ({
    purpose: "verify",
    userId: randomUUID(),
    tenant: "default",
    sessionEpoch: 3,
    expiresAt: Date.now() + 60_000,
    failures: 0,
    ...overrides,
  });

  it("stores a ticket under its user's hash tag, hashed, and lets one of parallel takers have it", async () => {
    const tickets = createMfaTickets(redis, prefix);
    const ticket = record();
    await tickets.issue(ticket, "hash-1", Date.now());
    expect(await redis.exists(`${prefix}{${ticket.userId}}:mfa:hash-1`)).toBe(1);
    expect(await tickets.peek(ticket.userId, "hash-1", Date.now())).toEqual(ticket);
    const taken = await Promise.all(Array.from({ length: 10 }, () => tickets.take(ticket.userId, "hash-1", Date.now())));
    expect(taken.filter((t) => t !== null)).toEqual([ticket]);
    expect(await tickets.take(ticket.userId, "hash-1", Date.now())).toBeNull();
  });

  it("puts a ticket back for the rest of its life only, and answers none after its expiry by our clock", async () => {
    const tickets = createMfaTickets(redis, prefix);
    const ticket = record({ expiresAt: Date.now() + 10_000 });
    await tickets.putBack({ ...ticket, failures: 2 }, "hash-2", Date.now());
    const ttl = await redis.pttl(`${prefix}{${ticket.userId}}:mfa:hash-2`);
    expect(ttl).toBeGreaterThan(8_000);
    expect(ttl).toBeLessThanOrEqual(10_000);
    expect(await tickets.peek(ticket.userId, "hash-2", Date.now())).toMatchObject({ failures: 2 });
    expect(await tickets.peek(ticket.userId, "hash-2", ticket.expiresAt + 1)).toBeNull();
    // Past its expiry, nothing is stored.
    await tickets.putBack(ticket, "hash-3", ticket.expiresAt + 1);
    expect(await redis.exists(`${prefix}{${ticket.userId}}:mfa:hash-3`)).toBe(0);
  });
});
