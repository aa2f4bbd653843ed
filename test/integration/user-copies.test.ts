/**
 * The copy of a user kept beside their sessions (infra/redis/user-copies.ts) and the rotation on it,
 * on a real Redis server and on the embedded stand-in: the same Lua must behave the same on both.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import RedisMock from "ioredis-mock";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { User } from "../../src/domain/model.js";
import type { NewSession, RotateRequest, SessionStore } from "../../src/domain/ports.js";
import { hashSecret, newSecret, newSessionId, sealSuccessor } from "../../src/domain/refresh-token.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";

const DAY = 86_400_000;

describe.each([
  ["a real Redis server", () => new Redis(inject("redisUrl"))],
  ["the embedded stand-in", () => new RedisMock()],
])("the copy of a user on %s", (_, open) => {
  let redis: Redis;
  let store: SessionStore;
  let prefix: string;
  const now = 1_800_000_000_000;

  beforeAll(() => {
    redis = open();
    prefix = `uc${randomBytes(4).toString("hex")}:`;
    store = createSessionStore(redis, prefix, 30 * DAY, { userCopyTtlMs: 3_600_000 });
  });
  afterAll(() => redis.disconnect());

  function userOf(overrides: Partial<User> = {}): User {
    return {
      id: randomUUID(),
      number: 7,
      tenant: "default",
      email: "ann@example.com",
      username: "ann",
      fullName: "Ann",
      roles: ["user"],
      permissions: { reports: { view: true } },
      attributes: { empleado_id: 456 },
      isActive: true,
      emailVerifiedAt: new Date(now - 1000),
      createdAt: new Date(now - 5000),
      sessionEpoch: 0,
      ...overrides,
    };
  }

  async function session(user: User, keepCopy?: NewSession["keepCopy"], epoch = 0) {
    const id = newSessionId();
    const secret = newSecret();
    const outcome = await store.create({
      id,
      userId: user.id,
      tenant: user.tenant,
      secretHash: hashSecret(secret),
      ip: undefined,
      userAgent: undefined,
      createdAt: now,
      absoluteExpiresAt: now + 30 * DAY,
      idleTtlMs: 7 * DAY,
      epoch,
      amr: ["pwd", "otp"],
      ...(keepCopy === undefined ? {} : { keepCopy }),
    });
    return { id, secret, outcome };
  }

  function rotation(user: User, s: { id: string; secret: string }, extra: Partial<RotateRequest> = {}): RotateRequest {
    const next = newSecret();
    return {
      mode: "rotate",
      userId: user.id,
      sessionId: s.id,
      presentedHash: hashSecret(s.secret),
      nextHash: hashSecret(next),
      sealedNext: sealSuccessor(next, s.secret),
      now,
      graceMs: 10_000,
      idleTtlMs: 7 * DAY,
      epoch: undefined,
      ...extra,
    };
  }

  it("without a copy, changes nothing and hands back the session's tenant and the user's mark", async () => {
    const user = userOf();
    const s = await session(user);
    const outcome = await store.rotate(rotation(user, s));
    expect(outcome).toEqual({ kind: "userNeeded", tenant: "default", userChange: "" });
    // Nothing rotated: the same secret rotates now, with the epoch.
    expect((await store.rotate(rotation(user, s, { epoch: 0 }))).kind).toBe("rotated");
  });

  it("without a copy, asks for the user only for the current secret: a wrong or replayed one is answered as with a copy", async () => {
    const user = userOf();
    const s = await session(user);
    expect((await store.rotate(rotation(user, { ...s, secret: newSecret() }))).kind).toBe("mismatch");
    // Rotated once (with the epoch: no copy), the old secret is in its grace window, then the next.
    const first = rotation(user, s, { epoch: 0 });
    expect((await store.rotate(first)).kind).toBe("rotated");
    expect((await store.rotate(rotation(user, s))).kind).toBe("grace");
    expect((await store.rotate(rotation(user, s, { now: now + 60_000 }))).kind).toBe("reused");
  });

  it("rotates on a copy kept under the current mark, in one step, and returns the user as kept", async () => {
    const user = userOf();
    const s = await session(user);
    const marks = await store.copyMarks(user.id, user.tenant);
    await store.keepCopy(user, marks);
    const outcome = await store.rotate(rotation(user, s));
    expect(outcome).toMatchObject({ kind: "rotated", amr: ["pwd", "otp"], copy: { user, tenantGeneration: marks.tenantGeneration } });
  });

  it("keeps no copy when the user changed after the marks were read", async () => {
    const user = userOf();
    const s = await session(user);
    const marks = await store.copyMarks(user.id, user.tenant);
    await store.userChanged(user.id);
    await store.keepCopy(user, marks);
    expect((await store.rotate(rotation(user, s))).kind).toBe("userNeeded");
    // Nor does a rotation that read the user before that change keep one.
    const fresh = await session(user);
    expect((await store.rotate(rotation(user, fresh, { epoch: 0, keepCopy: { user, marks } }))).kind).toBe("rotated");
    expect((await store.rotate(rotation(user, await session(user)))).kind).toBe("userNeeded");
  });

  it("keeps the copy with the session it creates (Login), in the same step, unless the user changed after the marks were read", async () => {
    const user = userOf();
    const marks = await store.copyMarks(user.id, user.tenant);
    const s = await session(user, { user, marks });
    expect(s.outcome).toBe("created");
    expect(await store.rotate(rotation(user, s))).toMatchObject({
      kind: "rotated",
      copy: { user, tenantGeneration: marks.tenantGeneration },
    });
    // A change after the marks: the session is created, the copy is not kept.
    const changed = userOf();
    const before = await store.copyMarks(changed.id, changed.tenant);
    await store.userChanged(changed.id);
    const fresh = await session(changed, { user: changed, marks: before });
    expect(fresh.outcome).toBe("created");
    expect(await redis.exists(`${prefix}{${changed.id}}:u`)).toBe(0);
    expect((await store.rotate(rotation(changed, fresh))).kind).toBe("userNeeded");
  });

  it("keeps no copy when the session is refused: a change recorded after the epoch read, or a disabled user", async () => {
    const user = userOf();
    await store.endAccess(user.id, { epoch: 1 });
    const marks = await store.copyMarks(user.id, user.tenant);
    expect((await session(user, { user, marks }, 0)).outcome).toBe("stale");
    expect(await redis.exists(`${prefix}{${user.id}}:u`)).toBe(0);
    await store.endAccess(user.id, { epoch: 2, disablesUser: true });
    const again = await store.copyMarks(user.id, user.tenant);
    expect((await session(user, { user, marks: again }, 2)).outcome).toBe("disabled");
    expect(await redis.exists(`${prefix}{${user.id}}:u`)).toBe(0);
  });

  it("drops the copy at every change, ending access included", async () => {
    const user = userOf();
    const changes = [() => store.userChanged(user.id), () => store.endAccess(user.id, { epoch: 1 }), () => store.restoreAccess(user.id, 2)];
    for (const change of changes) {
      await store.keepCopy(user, await store.copyMarks(user.id, user.tenant));
      expect(await redis.exists(`${prefix}{${user.id}}:u`)).toBe(1);
      await change();
      expect(await redis.exists(`${prefix}{${user.id}}:u`)).toBe(0);
    }
  });

  it("rotates on the copy of a user without roles (kept only once their tenant's policy let them in)", async () => {
    const user = userOf({ roles: [] });
    const s = await session(user);
    await store.keepCopy(user, await store.copyMarks(user.id, user.tenant));
    expect(await store.rotate(rotation(user, s))).toMatchObject({ kind: "rotated", copy: { user: { id: user.id, roles: [] } } });
  });

  it("uses no copy an earlier version kept of a user without roles (it began with 0), and changes nothing", async () => {
    const user = userOf({ roles: [] });
    const s = await session(user);
    await store.keepCopy(user, await store.copyMarks(user.id, user.tenant));
    const key = `${prefix}{${user.id}}:u`;
    await redis.set(key, `0${(await redis.get(key))?.slice(1)}`);
    expect((await store.rotate(rotation(user, s))).kind).toBe("userNeeded");
    expect((await store.rotate(rotation(user, s, { epoch: 0 }))).kind).toBe("rotated");
  });

  it("refuses a session of another tenant than x-tenant, and says when a missing session's user is disabled", async () => {
    const user = userOf();
    const s = await session(user);
    expect(await store.rotate(rotation(user, s, { tenantHeader: "acme" }))).toEqual({ kind: "tenantMismatch" });
    await store.endAccess(user.id, { epoch: 1, disablesUser: true });
    expect(await store.rotate(rotation(user, s))).toEqual({ kind: "missing", userDisabled: true });
  });

  it("moves the tenant's generation at each tenant change", async () => {
    const before = await store.tenantGeneration("gen-tenant");
    await store.tenantChanged("gen-tenant");
    const after = await store.tenantGeneration("gen-tenant");
    expect(after).not.toBe(before);
    expect(after).not.toBe("");
  });

  const generationKey = (tenant: string) => `${prefix}{t:${tenant}}:g`;
  const newTenant = () => `gen-${randomBytes(4).toString("hex")}`;

  it("creates a missing generation at its first read, once, whoever reads it first", async () => {
    const tenant = newTenant();
    const user = userOf({ tenant });
    const reads = await Promise.all([store.copyMarks(user.id, tenant), store.tenantGeneration(tenant), store.tenantGeneration(tenant)]);
    const generations = [reads[0].tenantGeneration, reads[1], reads[2]];
    expect(generations[0]).not.toBe("");
    expect(new Set(generations).size).toBe(1);
    expect(await redis.get(generationKey(tenant))).toBe(generations[0]);
  });

  it("reads a lost generation as a new one: no copy kept before the loss matches it", async () => {
    const tenant = newTenant();
    const user = userOf({ tenant });
    const s = await session(user);
    // Kept while the tenant had never changed (the key did not exist).
    await redis.del(generationKey(tenant));
    const marks = await store.copyMarks(user.id, tenant);
    await store.keepCopy(user, marks);
    await store.tenantChanged(tenant);
    // The key is lost (a restart without persistence, an eviction, a failover, a FLUSH).
    await redis.del(generationKey(tenant));
    const outcome = await store.rotate(rotation(user, s));
    if (outcome.kind !== "rotated" || outcome.copy === undefined) throw new Error(`no copy: ${outcome.kind}`);
    const now = await store.tenantGeneration(tenant);
    expect(now).not.toBe("");
    expect(outcome.copy.tenantGeneration).not.toBe(now);
  });

  it("treats an empty generation as a missing one", async () => {
    const tenant = newTenant();
    await redis.set(generationKey(tenant), "");
    const generation = await store.tenantGeneration(tenant);
    expect(generation).not.toBe("");
    expect(await redis.get(generationKey(tenant))).toBe(generation);
  });
});
