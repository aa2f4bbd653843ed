/**
 * The Redis session store on every topology the service runs on: a standalone Redis server, a
 * Sentinel group and a Redis Cluster (three masters with a replica each), all real servers opened
 * through the service's own client factory, and the embedded stand-in (ioredis-mock): the same
 * commands and the same Lua must behave the same on all of them.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { type Cluster, Redis } from "ioredis";
import RedisMock from "ioredis-mock";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parseRedisAddresses } from "../../src/config.js";
import { AuthError } from "../../src/domain/errors.js";
import type { NewSession, SessionStore } from "../../src/domain/ports.js";
import { hashSecret, newSecret, newSessionId, openSuccessor, sealSuccessor } from "../../src/domain/refresh-token.js";
import { clusterNodeAddresses, masterConnections, type RedisClient } from "../../src/infra/redis/client.js";
import { upgradeSessionLayout } from "../../src/infra/redis/legacy-sessions.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";
import { openTopology } from "../support/app.js";
import { clusterSlot } from "../support/cluster-slot.js";
import { sessionFields } from "../support/sessions.js";

const DAY = 86_400_000;

/** Every key matching `pattern`, on every master (a SCAN sees one node's keys). */
async function scanAll(redis: RedisClient, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of masterConnections(redis)) {
    let cursor = "0";
    do {
      const [next, found] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== "0");
  }
  return keys;
}

describe.each([
  ["a standalone Redis server", () => openTopology("standalone")],
  ["a Redis Sentinel group", () => openTopology("sentinel")],
  ["a Redis Cluster", () => openTopology("cluster")],
  ["the embedded stand-in", async (): Promise<RedisClient> => new RedisMock()],
])("the session store on %s", (where, open) => {
  let redis: RedisClient;
  let store: SessionStore;
  let prefix: string;
  const now = 1_800_000_000_000;
  const key = {
    session: (userId: string, sessionId: string) => `${prefix}{${userId}}:s:${sessionId}`,
    index: (userId: string) => `${prefix}{${userId}}:idx`,
    state: (userId: string) => `${prefix}{${userId}}:st`,
  };

  beforeAll(async () => {
    redis = await open();
    prefix = `it${randomBytes(4).toString("hex")}:`;
    store = createSessionStore(redis, prefix, 30 * DAY);
  });
  afterAll(() => redis.disconnect());

  async function newSession(overrides: Partial<NewSession> = {}) {
    const secret = newSecret();
    const session: NewSession = {
      id: newSessionId(),
      userId: randomUUID(),
      tenant: "default",
      secretHash: hashSecret(secret),
      ip: "203.0.113.7",
      userAgent: "test-agent",
      createdAt: now,
      absoluteExpiresAt: now + 30 * DAY,
      idleTtlMs: 7 * DAY,
      epoch: 0,
      amr: ["pwd"],
      ...overrides,
    };
    expect(await store.create(session)).toBe("created");
    return { session, secret };
  }

  function rotate(session: NewSession, presented: string, at: number, next = newSecret(), epoch = session.epoch) {
    return {
      next,
      outcome: store.rotate({
        mode: "rotate",
        userId: session.userId,
        sessionId: session.id,
        presentedHash: hashSecret(presented),
        nextHash: hashSecret(next),
        sealedNext: sealSuccessor(next, presented),
        now: at,
        graceMs: 10_000,
        idleTtlMs: 7 * DAY,
        epoch,
      }),
    };
  }

  it("keeps a user's newest sessions: ends the oldest beyond the limit, and drops ids of sessions already gone", async () => {
    const userId = randomUUID();
    const made = [];
    for (let i = 0; i < 5; i++) made.push((await newSession({ userId, createdAt: now + i * 1000 })).session);
    // One listed session whose key is gone (expired): dropped from the index, not counted.
    await redis.del(key.session(userId, made[4]?.id ?? ""));
    expect(await store.keepNewest(userId, 5, 1)).toBe(0);
    // Four live: under a limit of 4 nothing ends (the gone one is only dropped from the index).
    expect(await store.keepNewest(userId, 4, 1)).toBe(0);
    expect(await store.keepNewest(userId, 3, 2)).toBe(2);
    const left = await store.list(userId, now + 10_000);
    expect(left.map((s) => s.id).sort()).toEqual([made[2]?.id, made[3]?.id].sort());
    expect((await redis.smembers(key.index(userId))).sort()).toEqual([made[2]?.id, made[3]?.id].sort());
    expect(await store.isActive(userId, made[0]?.id ?? "")).toBe(false);
    expect(await store.keepNewest(userId, 2, 1)).toBe(0);
  });

  it("creates a session under its user, active, listed, and stores no raw secret", async () => {
    const { session, secret } = await newSession({ epoch: 4 });
    expect(await store.isActive(session.userId, session.id)).toBe(true);
    expect(await store.lookup(session.userId, session.id)).toEqual({ tenant: "default", userDisabled: false, amr: ["pwd"] });
    // How a session began is kept for its refreshes; a session of the layout before the field says pwd.
    const { session: withMfa } = await newSession({ amr: ["pwd", "otp", "mfa"] });
    expect((await store.lookup(withMfa.userId, withMfa.id)).amr).toEqual(["pwd", "otp", "mfa"]);
    await redis.hdel(key.session(withMfa.userId, withMfa.id), "am");
    expect((await store.lookup(withMfa.userId, withMfa.id)).amr).toEqual(["pwd"]);
    const stored = await redis.hgetall(key.session(session.userId, session.id));
    expect(stored).toMatchObject({ u: session.userId, t: "default", c: hashSecret(secret), ep: "4", ip: "203.0.113.7", ua: "test-agent" });
    expect(JSON.stringify(stored)).not.toContain(secret);
    expect(await redis.smembers(key.index(session.userId))).toEqual([session.id]);
    const ttl = await redis.pttl(key.session(session.userId, session.id));
    expect(ttl).toBeGreaterThan(7 * DAY - 5000);
    expect(ttl).toBeLessThanOrEqual(7 * DAY);
  });

  it("finds a session only under its own user", async () => {
    const { session } = await newSession();
    const stranger = randomUUID();
    expect(await store.isActive(stranger, session.id)).toBe(false);
    expect(await store.lookup(stranger, session.id)).toEqual({ tenant: null, userDisabled: false, amr: [] });
    expect(await store.revoke(stranger, session.id)).toBe(false);
    expect(await store.isActive(session.userId, session.id)).toBe(true);
  });

  it("keeps every key of a user in the slot of the user's hash tag", async () => {
    const { session, secret } = await newSession();
    await newSession({ userId: session.userId });
    await rotate(session, secret, now + 1000).outcome;
    await store.endAccess(session.userId, { epoch: 1, keepSessionId: session.id });
    const keys = await scanAll(redis, `${prefix}*${session.userId}*`);
    // The session, its successor, the index and the user's state.
    expect(keys).toHaveLength(4);
    for (const k of keys) expect(clusterSlot(k)).toBe(clusterSlot(`{${session.userId}}`));
  });

  it("rotates the current secret, then hands a retry inside the grace window the same successor", async () => {
    const { session, secret } = await newSession();
    const first = rotate(session, secret, now + 1000);
    expect(await first.outcome).toMatchObject({ kind: "rotated" });
    const retry = rotate(session, secret, now + 5000);
    const outcome = await retry.outcome;
    expect(outcome.kind).toBe("grace");
    // The sealed successor is the one from the first rotation, not the retry's own candidate.
    expect(outcome.kind === "grace" && openSuccessor(outcome.sealedNext, secret, outcome.currentHash)).toBe(first.next);
    expect(outcome.kind === "grace" && outcome.currentHash).toBe(hashSecret(first.next));
    expect(await rotate(session, first.next, now + 6000).outcome).toMatchObject({ kind: "rotated" });
  });

  it("ends the whole session when a rotated secret comes back after the grace window", async () => {
    const { session, secret } = await newSession();
    const first = rotate(session, secret, now);
    await first.outcome;
    expect(await rotate(session, secret, now + 10_001).outcome).toEqual({ kind: "reused", userId: session.userId, tenant: "default" });
    expect(await store.isActive(session.userId, session.id)).toBe(false);
    expect(await redis.sismember(key.index(session.userId), session.id)).toBe(0);
    expect(await rotate(session, first.next, now + 10_002).outcome).toEqual({ kind: "missing", userDisabled: false });
  });

  it("recognises an older generation as reuse too", async () => {
    const { session, secret } = await newSession();
    let current = secret;
    const generations = [secret];
    for (let i = 1; i <= 4; i++) {
      const step = rotate(session, current, now + i * 60_000);
      expect(await step.outcome).toMatchObject({ kind: "rotated" });
      current = step.next;
      generations.push(current);
    }
    expect(await rotate(session, generations[1]!, now + 10 * 60_000).outcome).toMatchObject({ kind: "reused" });
    expect(await store.isActive(session.userId, session.id)).toBe(false);
  });

  it("treats a wrong secret for a known session as a mismatch and keeps the session", async () => {
    const { session } = await newSession();
    expect(await rotate(session, newSecret(), now).outcome).toEqual({ kind: "mismatch" });
    expect(await store.isActive(session.userId, session.id)).toBe(true);
  });

  it("ends a session at its absolute cap however recently it was used", async () => {
    const { session, secret } = await newSession({ absoluteExpiresAt: now + 60_000 });
    const step = rotate(session, secret, now + 30_000);
    expect(await step.outcome).toMatchObject({ kind: "rotated", ttlMs: 30_000 });
    expect(await rotate(session, step.next, now + 60_000).outcome).toEqual({ kind: "missing", userDisabled: false });
    expect(await store.isActive(session.userId, session.id)).toBe(false);
    expect(await redis.sismember(key.index(session.userId), session.id)).toBe(0);
  });

  it("keeps the secret current in keep mode, restarting the idle lifetime, and still catches an old one", async () => {
    const { session, secret } = await newSession({ idleTtlMs: 60_000 });
    const keep = (presented: string, at: number) =>
      store.rotate({
        mode: "keep",
        userId: session.userId,
        sessionId: session.id,
        presentedHash: hashSecret(presented),
        nextHash: "",
        sealedNext: "",
        now: at,
        graceMs: 10_000,
        idleTtlMs: DAY,
        epoch: 0,
      });
    expect(await keep(secret, now + 1000)).toMatchObject({ kind: "kept", ttlMs: DAY });
    expect(await keep(secret, now + 2000)).toMatchObject({ kind: "kept", ttlMs: DAY });
    expect(await redis.hget(key.session(session.userId, session.id), "lu")).toBe(String(now + 2000));
    const rotated = rotate(session, secret, now + 3000);
    await rotated.outcome;
    expect(await keep(secret, now + 3000 + 10_001)).toMatchObject({ kind: "reused" });
  });

  it("touch restarts the idle lifetime, never past the absolute cap, and says when the session is gone", async () => {
    const { session } = await newSession({ idleTtlMs: 60_000, absoluteExpiresAt: now + 90_000 });
    const { userId, id } = session;
    expect(await store.touch(userId, id, now + 10_000, 60_000, 0)).toBe(60_000);
    expect(await store.touch(userId, id, now + 50_000, 60_000, 0)).toBe(40_000);
    expect(await store.touch(userId, id, now + 90_000, 60_000, 0)).toBeNull();
    expect(await store.isActive(userId, id)).toBe(false);
    expect(await store.touch(userId, newSessionId(), now, 60_000, 0)).toBeNull();
  });

  it("revokes one session, and counts what it ended", async () => {
    const userId = randomUUID();
    const [a, b] = await Promise.all([1, 2].map(() => newSession({ userId })));
    expect(await store.revoke(userId, a!.session.id)).toBe(true);
    expect(await store.revoke(userId, a!.session.id)).toBe(false);
    expect(await store.isActive(userId, b!.session.id)).toBe(true);
    expect(await redis.smembers(key.index(userId))).toEqual([b!.session.id]);
  });

  describe("ending a user's access at an epoch", () => {
    it("ends every session resting on an older epoch but the kept one, and keeps newer ones", async () => {
      const userId = randomUUID();
      const sessions = await Promise.all([0, 0, 0, 5].map((epoch) => newSession({ userId, epoch })));
      const [kept, old1, old2, newer] = sessions.map((s) => s.session.id) as [string, string, string, string];
      expect(await store.endAccess(userId, { epoch: 5, keepSessionId: kept })).toBe(2);
      expect(await store.isActive(userId, kept)).toBe(true);
      expect(await redis.hget(key.session(userId, kept), "ep")).toBe("5");
      for (const gone of [old1, old2]) expect(await store.isActive(userId, gone)).toBe(false);
      expect(await store.isActive(userId, newer)).toBe(true);
      expect((await redis.smembers(key.index(userId))).sort()).toEqual([kept, newer].sort());
      expect((await store.list(userId, now)).map((s) => s.id).sort()).toEqual([kept, newer].sort());
    });

    it("refuses, from then on, to create, rotate or touch on the strength of an older epoch", async () => {
      const userId = randomUUID();
      const { session: kept, secret } = await newSession({ userId, epoch: 2 });
      await store.endAccess(userId, { epoch: 3, keepSessionId: kept.id });
      const stale: NewSession = { ...kept, id: newSessionId(), epoch: 2 };
      expect(await store.create(stale)).toBe("stale");
      expect(await store.isActive(userId, stale.id)).toBe(false);
      expect(await redis.sismember(key.index(userId), stale.id)).toBe(0);
      // A stale rotation changes nothing: the presented secret is still current afterwards.
      expect(await rotate(kept, secret, now + 1000, newSecret(), 2).outcome).toEqual({ kind: "stale" });
      expect(await redis.hget(key.session(userId, kept.id), "c")).toBe(hashSecret(secret));
      expect(await store.touch(userId, kept.id, now + 1000, 60_000, 2)).toBe("stale");
      // On the new epoch everything works.
      expect(await rotate(kept, secret, now + 1000, newSecret(), 3).outcome).toMatchObject({ kind: "rotated" });
      expect(await store.create({ ...stale, id: newSessionId(), epoch: 3 })).toBe("created");
      // The recorded epoch never goes back.
      await store.endAccess(userId, { epoch: 1 });
      expect(await redis.hget(key.state(userId), "e")).toBe("3");
    });

    it("also ends a session created between reading the index and the script", async () => {
      const userId = randomUUID();
      const { session } = await newSession({ userId });
      // The index read sees nothing, as if the session had been created just after it.
      const smembers = redis.smembers.bind(redis);
      let first = true;
      redis.smembers = (async (...args: Parameters<typeof smembers>) => {
        if (first) {
          first = false;
          return [];
        }
        return smembers(...args);
      }) as typeof redis.smembers;
      try {
        expect(await store.endAccess(userId, { epoch: 1 })).toBe(1);
      } finally {
        redis.smembers = smembers;
      }
      expect(await store.isActive(userId, session.id)).toBe(false);
    });

    it("marks a disabled user until an enable with a later epoch, and an older disable cannot undo that enable", async () => {
      const userId = randomUUID();
      const { session } = await newSession({ userId });
      expect(await store.isUserDisabled(userId)).toBe(false);
      expect(await store.endAccess(userId, { epoch: 1, disablesUser: true })).toBe(1);
      expect(await store.isUserDisabled(userId)).toBe(true);
      // Told disabled for the session the disable ended; a made-up session id learns nothing.
      expect(await store.lookup(userId, session.id)).toEqual({ tenant: null, userDisabled: true, amr: [] });
      expect(await store.lookup(userId, newSessionId())).toEqual({ tenant: null, userDisabled: false, amr: [] });
      // While disabled, the state outlives any TTL, and no session starts whatever its epoch.
      expect(await redis.pttl(key.state(userId))).toBe(-1);
      expect(await store.create({ ...(await sessionFor(userId)), epoch: 9 })).toBe("disabled");

      await store.restoreAccess(userId, 2);
      expect(await store.isUserDisabled(userId)).toBe(false);
      expect(await redis.pttl(key.state(userId))).toBeGreaterThan(29 * DAY);
      expect(await store.lookup(userId, session.id)).toEqual({ tenant: null, userDisabled: false, amr: [] });
      // A disable whose Redis step arrives after the later enable's does not mark the user again,
      // nor (another user, a session from before both) the sessions it ends.
      await store.endAccess(userId, { epoch: 1, disablesUser: true });
      expect(await store.isUserDisabled(userId)).toBe(false);
      const other = randomUUID();
      const before = (await newSession({ userId: other })).session;
      await store.restoreAccess(other, 2);
      expect(await store.endAccess(other, { epoch: 1, disablesUser: true })).toBe(1);
      expect(await store.lookup(other, before.id)).toEqual({ tenant: null, userDisabled: false, amr: [] });
      expect(await store.create({ ...(await sessionFor(userId)), epoch: 2 })).toBe("created");
    });
  });

  async function sessionFor(userId: string): Promise<NewSession> {
    return {
      id: newSessionId(),
      userId,
      tenant: "default",
      secretHash: hashSecret(newSecret()),
      ip: undefined,
      userAgent: undefined,
      createdAt: now,
      absoluteExpiresAt: now + DAY,
      idleTtlMs: DAY,
      epoch: 0,
      amr: ["pwd"],
    };
  }

  it("prunes ids of expired sessions from the user's index at the next login", async () => {
    const userId = randomUUID();
    const { session: gone } = await newSession({ userId });
    await redis.del(key.session(userId, gone.id)); // as if its TTL had run out
    const { session: fresh } = await newSession({ userId });
    expect(await redis.smembers(key.index(userId))).toEqual([fresh.id]);
  });

  it("prunes a large index a sample at a time, at a cost that does not grow with it", async () => {
    const userId = randomUUID();
    const index = key.index(userId);
    // 300 ids of sessions that have ended, as a heavy user's index collects them.
    await redis.sadd(index, ...Array.from({ length: 300 }, () => `gone${randomBytes(8).toString("hex")}`));
    if (where !== "the embedded stand-in") {
      // The stand-in keeps no command statistics; a Cluster keeps them per node.
      const existsCalls = async () => {
        let calls = 0;
        for (const node of masterConnections(redis))
          calls += Number(/cmdstat_exists:calls=(\d+)/.exec(await node.info("commandstats"))?.[1] ?? 0);
        return calls;
      };
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

  it("moves sessions of the previous layout once, and finds them by session id afterwards", async () => {
    const oldPrefix = `old${randomBytes(4).toString("hex")}:`;
    const userId = randomUUID();
    const sessionId = newSessionId();
    const secret = newSecret();
    const realNow = Date.now();
    await redis.hset(`${oldPrefix}s:{${sessionId}}`, {
      u: userId,
      t: "default",
      c: hashSecret(secret),
      ca: "1",
      lu: "1",
      ae: String(realNow + DAY),
    });
    await redis.pexpire(`${oldPrefix}s:{${sessionId}}`, 60_000);
    await redis.sadd(`${oldPrefix}u:{${userId}}`, sessionId, "dead-id");
    // More old sessions, whose ids spread them over a Cluster's masters: the sweep must SCAN each.
    const others = Array.from({ length: 11 }, () => ({ userId: randomUUID(), sessionId: newSessionId() }));
    for (const other of others) {
      await redis.hset(`${oldPrefix}s:{${other.sessionId}}`, { u: other.userId, t: "default", c: "x", ae: String(realNow + DAY) });
      await redis.pexpire(`${oldPrefix}s:{${other.sessionId}}`, 60_000);
    }

    const upgrade = await upgradeSessionLayout(redis, oldPrefix, 30 * DAY);
    expect(upgrade).toMatchObject({ moved: 12, swept: true });
    for (const other of others) expect(await redis.exists(`${oldPrefix}{${other.userId}}:s:${other.sessionId}`)).toBe(1);
    expect(upgrade.legacy.active).toBe(true);
    const moved = createSessionStore(redis, oldPrefix, 30 * DAY, { legacy: upgrade.legacy });
    expect(await moved.legacyOwner(sessionId)).toBe(userId);
    expect(await moved.isActive(userId, sessionId)).toBe(true);
    expect(await redis.hget(`${oldPrefix}{${userId}}:s:${sessionId}`, "c")).toBe(hashSecret(secret));
    expect(await redis.pttl(`${oldPrefix}{${userId}}:s:${sessionId}`)).toBeGreaterThan(50_000);
    // One key at a time: on a Cluster the two are in different slots.
    expect(await redis.exists(`${oldPrefix}s:{${sessionId}}`)).toBe(0);
    expect(await redis.exists(`${oldPrefix}u:{${userId}}`)).toBe(0);
    expect(await upgradeSessionLayout(redis, oldPrefix, 30 * DAY)).toMatchObject({ moved: 0, swept: true });

    // A deployment that never had old sessions looks once, then never again, and pays nothing.
    const freshPrefix = `new${randomBytes(4).toString("hex")}:`;
    expect(await upgradeSessionLayout(redis, freshPrefix, 30 * DAY)).toMatchObject({ moved: 0, swept: true });
    const fresh = await upgradeSessionLayout(redis, freshPrefix, 30 * DAY);
    expect(fresh).toMatchObject({ moved: 0, swept: false });
    expect(fresh.legacy.active).toBe(false);
  });

  it("refuses a key prefix or a user id that would move keys out of the user's slot", async () => {
    expect(() => createSessionStore(redis, "auth{x}:", DAY)).toThrow(/REDIS_KEY_PREFIX/);
    await expect(store.isActive("a}b", newSessionId())).rejects.toThrow(/user id/);
  });
});

describe.each(["sentinel", "cluster"] as const)("session writes that wait for replicas, on a Redis %s", (topology) => {
  let redis: RedisClient;
  let writer: RedisClient;
  const prefix = `wr${randomBytes(4).toString("hex")}:`;
  const now = Date.now();
  const session = (): NewSession => sessionFields({ createdAt: now, absoluteExpiresAt: now + DAY, idleTtlMs: DAY });

  beforeAll(async () => {
    [redis, writer] = await Promise.all([openTopology(topology), openTopology(topology)]);
  });
  afterAll(() => {
    redis?.disconnect();
    writer?.disconnect();
  });

  /** Whether a replica of the key's master holds it, read from the replicas themselves. */
  async function onAReplica(key: string): Promise<boolean> {
    if (topology === "sentinel") {
      const replica = new Redis({
        sentinels: parseRedisAddresses(inject("redisSentinels"), 26379) ?? [],
        name: inject("redisSentinelMaster"),
        role: "slave",
      });
      try {
        return (await replica.exists(key)) === 1;
      } finally {
        replica.disconnect();
      }
    }
    // Every replica of the Cluster (ioredis connects to masters only); a replica answers reads
    // after READONLY, those of other slots with MOVED.
    const masters = new Set(masterConnections(redis).map((m) => m.options.port));
    const replicas = (await clusterNodeAddresses(redis as Cluster)).filter((node) => !masters.has(node.port));
    expect(replicas).toHaveLength(3);
    const answers = await Promise.allSettled(
      replicas.map(async ({ host, port }) => {
        const replica = new Redis({ host, port, lazyConnect: true });
        try {
          await replica.connect();
          await replica.readonly();
          return await replica.exists(key);
        } finally {
          replica.disconnect();
        }
      }),
    );
    return answers.some((a) => a.status === "fulfilled" && a.value === 1);
  }

  it("acknowledges a write only once a replica holds it", async () => {
    const store = createSessionStore(redis, prefix, DAY, { durability: { writer, replicas: 1, timeoutMs: 2000 } });
    const created = session();
    expect(await store.create(created)).toBe("created");
    expect(await onAReplica(`${prefix}{${created.userId}}:s:${created.id}`)).toBe(true);
    expect(await store.revoke(created.userId, created.id)).toBe(true);
    expect(await onAReplica(`${prefix}{${created.userId}}:s:${created.id}`)).toBe(false);
  });

  it("answers UNAVAILABLE when fewer replicas than asked hold the write in time", async () => {
    // Each master has one replica: two can never answer.
    const store = createSessionStore(redis, prefix, DAY, { durability: { writer, replicas: 2, timeoutMs: 50 } });
    const started = Date.now();
    const error = await store.create(session()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthError);
    expect((error as AuthError).reason).toBe("UNAVAILABLE");
    expect(((error as AuthError).cause as Error).message).toMatch(/^WAITREPLICAS 1 of 2/);
    expect(Date.now() - started).toBeLessThan(1500);
  });
});
