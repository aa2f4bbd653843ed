/**
 * The Redis session store, on a real Redis server and on the embedded stand-in (ioredis-mock):
 * the same commands and the same Lua must behave the same on both.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import RedisMock from "ioredis-mock";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { NewSession, SessionStore } from "../../src/domain/ports.js";
import { hashSecret, newSecret, newSessionId, sealSuccessor } from "../../src/domain/refresh-token.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";

const DAY = 86_400_000;

describe.each([
  ["a real Redis server", () => new Redis(inject("redisUrl"))],
  ["the embedded stand-in", () => new RedisMock()],
])("the session store on %s", (where, open) => {
  let redis: Redis;
  let store: SessionStore;
  let prefix: string;
  const now = 1_800_000_000_000;

  beforeAll(() => {
    redis = open();
    prefix = `it${randomBytes(4).toString("hex")}:`;
    store = createSessionStore(redis, prefix, 30 * DAY);
  });
  afterAll(() => redis.disconnect());

  async function newSession(overrides: Partial<NewSession> = {}) {
    const secret = newSecret();
    const session: NewSession = {
      id: newSessionId(),
      userId: `user-${randomBytes(4).toString("hex")}`,
      tenant: "default",
      secretHash: hashSecret(secret),
      ip: "203.0.113.7",
      userAgent: "test-agent",
      createdAt: now,
      absoluteExpiresAt: now + 30 * DAY,
      idleTtlMs: 7 * DAY,
      ...overrides,
    };
    await store.create(session);
    return { session, secret };
  }

  function rotate(sessionId: string, presented: string, at: number, next = newSecret()) {
    return {
      next,
      outcome: store.rotate({
        mode: "rotate",
        sessionId,
        presentedHash: hashSecret(presented),
        nextHash: hashSecret(next),
        sealedNext: sealSuccessor(next, presented),
        now: at,
        graceMs: 10_000,
        idleTtlMs: 7 * DAY,
      }),
    };
  }

  it("creates a session that is active, owned, and stores no raw secret", async () => {
    const { session, secret } = await newSession();
    expect(await store.isActive(session.id)).toBe(true);
    expect(await store.owner(session.id)).toEqual({ userId: session.userId, tenant: "default" });
    const stored = await redis.hgetall(`${prefix}s:{${session.id}}`);
    expect(stored).toMatchObject({ u: session.userId, t: "default", c: hashSecret(secret), ip: "203.0.113.7", ua: "test-agent" });
    expect(JSON.stringify(stored)).not.toContain(secret);
    const ttl = await redis.pttl(`${prefix}s:{${session.id}}`);
    expect(ttl).toBeGreaterThan(7 * DAY - 5000);
    expect(ttl).toBeLessThanOrEqual(7 * DAY);
  });

  it("rotates the current secret, then hands a retry inside the grace window the same successor", async () => {
    const { session, secret } = await newSession();
    const first = rotate(session.id, secret, now + 1000);
    expect(await first.outcome).toMatchObject({ kind: "rotated" });
    const retry = rotate(session.id, secret, now + 5000);
    const outcome = await retry.outcome;
    expect(outcome.kind).toBe("grace");
    // The sealed successor is the one from the first rotation, not the retry's own candidate.
    const { openSuccessor } = await import("../../src/domain/refresh-token.js");
    expect(outcome.kind === "grace" && openSuccessor(outcome.sealedNext, secret)).toBe(first.next);
    expect(await rotate(session.id, first.next, now + 6000).outcome).toMatchObject({ kind: "rotated" });
  });

  it("ends the whole session when a rotated secret comes back after the grace window", async () => {
    const { session, secret } = await newSession();
    const first = rotate(session.id, secret, now);
    await first.outcome;
    expect(await rotate(session.id, secret, now + 10_001).outcome).toEqual({ kind: "reused", userId: session.userId, tenant: "default" });
    expect(await store.isActive(session.id)).toBe(false);
    expect(await redis.sismember(`${prefix}u:{${session.userId}}`, session.id)).toBe(0);
    expect(await rotate(session.id, first.next, now + 10_002).outcome).toEqual({ kind: "missing" });
  });

  it("recognises an older generation as reuse too", async () => {
    const { session, secret } = await newSession();
    let current = secret;
    const generations = [secret];
    for (let i = 1; i <= 4; i++) {
      const step = rotate(session.id, current, now + i * 60_000);
      expect(await step.outcome).toMatchObject({ kind: "rotated" });
      current = step.next;
      generations.push(current);
    }
    expect(await rotate(session.id, generations[1]!, now + 10 * 60_000).outcome).toMatchObject({ kind: "reused" });
    expect(await store.isActive(session.id)).toBe(false);
  });

  it("treats a wrong secret for a known session as a mismatch and keeps the session", async () => {
    const { session } = await newSession();
    expect(await rotate(session.id, newSecret(), now).outcome).toEqual({ kind: "mismatch" });
    expect(await store.isActive(session.id)).toBe(true);
  });

  it("ends a session at its absolute cap however recently it was used", async () => {
    const { session, secret } = await newSession({ absoluteExpiresAt: now + 60_000 });
    const step = rotate(session.id, secret, now + 30_000);
    expect(await step.outcome).toEqual({ kind: "rotated", ttlMs: 30_000 });
    expect(await rotate(session.id, step.next, now + 60_000).outcome).toEqual({ kind: "missing" });
    expect(await store.isActive(session.id)).toBe(false);
  });

  it("keeps the secret current in keep mode, restarting the idle lifetime, and still catches an old one", async () => {
    const { session, secret } = await newSession({ idleTtlMs: 60_000 });
    const keep = (presented: string, at: number) =>
      store.rotate({
        mode: "keep",
        sessionId: session.id,
        presentedHash: hashSecret(presented),
        nextHash: "",
        sealedNext: "",
        now: at,
        graceMs: 10_000,
        idleTtlMs: DAY,
      });
    expect(await keep(secret, now + 1000)).toEqual({ kind: "kept", ttlMs: DAY });
    expect(await keep(secret, now + 2000)).toEqual({ kind: "kept", ttlMs: DAY });
    expect(await redis.hget(`${prefix}s:{${session.id}}`, "lu")).toBe(String(now + 2000));
    const rotated = rotate(session.id, secret, now + 3000);
    await rotated.outcome;
    expect(await keep(secret, now + 3000 + 10_001)).toMatchObject({ kind: "reused" });
  });

  it("touch restarts the idle lifetime, never past the absolute cap, and says when the session is gone", async () => {
    const { session } = await newSession({ idleTtlMs: 60_000, absoluteExpiresAt: now + 90_000 });
    expect(await store.touch(session.id, now + 10_000, 60_000)).toBe(60_000);
    expect(await store.touch(session.id, now + 50_000, 60_000)).toBe(40_000);
    expect(await store.touch(session.id, now + 90_000, 60_000)).toBeNull();
    expect(await store.isActive(session.id)).toBe(false);
    expect(await store.touch("no-such-session", now, 60_000)).toBeNull();
  });

  it("revokes one session, or all but one, and counts what it ended", async () => {
    const userId = `user-${randomBytes(4).toString("hex")}`;
    const sessions = await Promise.all([1, 2, 3].map(() => newSession({ userId })));
    const [keep, drop, other] = sessions.map((s) => s.session.id) as [string, string, string];
    expect(await store.revoke(drop, userId)).toBe(true);
    expect(await store.revoke(drop, userId)).toBe(false);
    expect(await store.revokeAllForUser(userId, keep)).toBe(1);
    expect(await store.isActive(keep)).toBe(true);
    expect(await store.isActive(other)).toBe(false);
    expect(await redis.smembers(`${prefix}u:{${userId}}`)).toEqual([keep]);
  });

  it("prunes ids of expired sessions from the user's index at the next login", async () => {
    const userId = `user-${randomBytes(4).toString("hex")}`;
    const { session: gone } = await newSession({ userId });
    await redis.del(`${prefix}s:{${gone.id}}`); // as if its TTL had run out
    const { session: fresh } = await newSession({ userId });
    expect(await redis.smembers(`${prefix}u:{${userId}}`)).toEqual([fresh.id]);
  });

  it("prunes a large index a sample at a time, at a cost that does not grow with it", async () => {
    const userId = `user-${randomBytes(4).toString("hex")}`;
    const index = `${prefix}u:{${userId}}`;
    // 300 ids of sessions that have ended, as a heavy user's index collects them.
    await redis.sadd(index, ...Array.from({ length: 300 }, () => `gone${randomBytes(8).toString("hex")}`));
    if (where === "a real Redis server") {
      // The stand-in keeps no command statistics.
      const existsCalls = async () => Number(/cmdstat_exists:calls=(\d+)/.exec(await redis.info("commandstats"))?.[1] ?? 0);
      const before = await existsCalls();
      await newSession({ userId });
      expect((await existsCalls()) - before).toBeLessThanOrEqual(16);
    } else {
      await newSession({ userId });
    }
    for (let i = 0; i < 60; i++) await newSession({ userId });
    const members = await redis.smembers(index);
    // Each login drops the dead ids among 16 drawn at random: from 300, few are left.
    expect(members.filter((id) => id.startsWith("gone")).length).toBeLessThan(100);
    expect(members.filter((id) => !id.startsWith("gone"))).toHaveLength(61);
  });
});
