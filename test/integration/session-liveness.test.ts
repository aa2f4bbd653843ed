/**
 * Session liveness cached per process and invalidated by Redis (infra/redis/session-liveness.ts),
 * on each of the suite's Redis deployments (a standalone server, a Sentinel group, a Cluster of
 * three masters: one tracking pair per master), with two instances: A ends sessions, B checks them. The guarantee under
 * test: once B has received Redis's invalidation of a session, no check on B answers it alive; and
 * whenever B's invalidation connection drops, stalls or reconnects, B empties its cache before its
 * next answer and reads Redis until its tracking is back.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import type { SessionStore } from "../../src/domain/ports.js";
import { closeRedis, masterConnections, type RedisClient } from "../../src/infra/redis/client.js";
import { type KeyTracking, pairConnectionOptions, singleServerTracking } from "../../src/infra/redis/key-tracking.js";
import { noLegacySessions } from "../../src/infra/redis/legacy-sessions.js";
import { type CachedLiveness, cachedLiveness } from "../../src/infra/redis/session-liveness.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";
import { trackingFor } from "../../src/infra/redis/tracking-topology.js";
import { openTopology, REDIS_TOPOLOGIES, type RedisTopologyName, redisEnv } from "../support/app.js";
import { sessionFields } from "../support/sessions.js";

const DAY = 86_400_000;
const TIMING = { heartbeatMs: 100, staleAfterMs: 400, onProblem: () => {} };

const until = async (condition: () => boolean, what: string, timeoutMs = 5000) => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

/** The masters' connections of `client`, and the id of the client named `name` on one of them. */
async function clientNamed(client: RedisClient, name: string): Promise<{ node: Redis; id: string } | undefined> {
  for (const node of masterConnections(client)) {
    const id = new RegExp(`id=(\\d+) [^\\n]* name=${name} `).exec(String(await node.call("CLIENT", "LIST")))?.[1];
    if (id !== undefined) return { node, id };
  }
  return undefined;
}

describe.each(REDIS_TOPOLOGIES)("session liveness cached on an instance and invalidated by Redis (%s)", (topology: RedisTopologyName) => {
  const opened: RedisClient[] = [];
  const caches: CachedLiveness[] = [];
  let prefix: string;
  let a: SessionStore;
  let admin: RedisClient;
  const pairs = topology === "cluster" ? 3 : 1;

  beforeAll(async () => {
    prefix = `lv${randomBytes(4).toString("hex")}:`;
    admin = await openTopology(topology);
    opened.push(admin);
    a = createSessionStore(admin, prefix, 30 * DAY);
  });
  afterEach(() => {
    for (const cache of caches.splice(0)) cache.close();
  });
  afterAll(async () => {
    for (const connection of opened) await closeRedis(connection);
  });

  /** Instance B: its own client, store and cache; `wrap` may interpose on its tracking. */
  async function instanceB(options: { wrap?: (tracking: KeyTracking) => KeyTracking; tracking?: KeyTracking } = {}) {
    const redis = await openTopology(topology);
    opened.push(redis);
    const tracked = options.tracking ?? trackingFor(loadConfig(redisEnv(topology)).redis, redis, TIMING);
    if (tracked === undefined) throw new Error("no tracking for a real Redis");
    const cache = cachedLiveness(createSessionStore(redis, prefix, 30 * DAY), options.wrap?.(tracked) ?? tracked, {
      prefix,
      capacity: 1000,
      legacy: noLegacySessions,
    });
    caches.push(cache);
    await until(() => cache.invalidationClients().length === pairs, "the tracking pairs");
    return cache;
  }

  async function newSession(userId = randomUUID()) {
    const session = sessionFields({ userId });
    await a.create(session);
    return { userId, id: session.id };
  }

  it("answers a session seen before from memory, and refuses it once Redis says it ended", async () => {
    const b = await instanceB();
    const { userId, id } = await newSession();
    expect(await b.store.isActive(userId, id)).toBe(true);
    expect(await b.store.isActive(userId, id)).toBe(true);
    expect(b.stats()).toMatchObject({ hits: 1, misses: 1, sessions: 1 });
    const invalidated = new Promise<void>((resolve) => b.onInvalidation(() => resolve()));
    await a.revoke(userId, id);
    await invalidated;
    expect(await b.store.isActive(userId, id)).toBe(false);
    expect(await b.store.isActive(userId, id)).toBe(false);
  });

  it("never answers alive after the invalidation arrived, while checking in a loop as A revokes", async () => {
    const b = await instanceB();
    const sessions = await Promise.all(Array.from({ length: 20 }, () => newSession()));
    // One timeline of this process: each invalidation's arrival, and each answer as it is given.
    const events: ({ kind: "invalidated"; key: string } | { kind: "answer"; id: string; alive: boolean })[] = [];
    b.onInvalidation((keys) => {
      for (const key of keys ?? ["*"]) events.push({ kind: "invalidated", key });
    });
    let stop = false;
    const loops = Array.from({ length: 8 }, async (_, loop) => {
      for (let i = loop; !stop; i++) {
        const { userId, id } = sessions[i % sessions.length]!;
        events.push({ kind: "answer", id, alive: await b.store.isActive(userId, id) });
        // Answers from memory never wait for I/O: let the invalidations in between them.
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const { userId, id } of sessions) {
      await a.revoke(userId, id);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await until(() => events.filter((e) => e.kind === "invalidated").length >= sessions.length, "every invalidation");
    await new Promise((resolve) => setTimeout(resolve, 50));
    stop = true;
    await Promise.all(loops);
    const arrived = new Set<string>();
    let aliveAfterArrival = 0;
    let answered = 0;
    for (const event of events) {
      if (event.kind === "invalidated") arrived.add(event.key.slice(event.key.lastIndexOf(":") + 1));
      else {
        answered += 1;
        if (event.alive && arrived.has(event.id)) aliveAfterArrival += 1;
      }
    }
    expect(answered).toBeGreaterThan(200);
    expect(events.some((e) => e.kind === "answer" && e.alive)).toBe(true);
    expect(aliveAfterArrival).toBe(0);
  });

  it("does not keep a read whose reply came after the invalidation of its key", async () => {
    // B's tracked reads are held back until the test releases them.
    let release: (() => void) | undefined;
    const b = await instanceB({
      wrap: (tracking) => ({
        ...tracking,
        readerFor(key) {
          const reader = tracking.readerFor(key);
          if (reader === undefined) return undefined;
          return new Proxy(reader, {
            get: (target, name) =>
              name === "pttl"
                ? async (k: string) => {
                    const reply = await target.pttl(k);
                    await new Promise<void>((resolve) => (release = resolve));
                    return reply;
                  }
                : Reflect.get(target, name),
          });
        },
      }),
    });
    const { userId, id } = await newSession();
    const invalidated = new Promise<void>((resolve) => b.onInvalidation(() => resolve()));
    const answer = b.store.isActive(userId, id);
    await until(() => release !== undefined, "the read's reply"); // Redis answered "alive"
    await a.revoke(userId, id);
    await invalidated; // … and the invalidation overtook that reply
    release?.();
    expect(await answer).toBe(false);
    expect(b.stats().sessions).toBe(0);
  });

  it("empties its cache when its invalidation connection is killed, reads Redis meanwhile, and caches again once back", async () => {
    const b = await instanceB();
    const first = await newSession();
    const second = await newSession();
    for (const { userId, id } of [first, second]) await b.store.isActive(userId, id);
    expect(b.stats().sessions).toBe(2);
    const [name] = b.invalidationClients();
    const reset = new Promise<string>((resolve) => b.onReset(resolve));
    const named = await clientNamed(admin, name ?? "");
    expect(named).toBeDefined();
    await named?.node.call("CLIENT", "KILL", "ID", named.id);
    expect(await reset).toMatch(/closed/);
    expect(b.stats().sessions).toBe(0);
    // While the pair is down nothing is cached: a revocation is seen by the next check.
    await a.revoke(second.userId, second.id);
    expect(await b.store.isActive(second.userId, second.id)).toBe(false);
    await until(() => b.invalidationClients().length === pairs && !b.invalidationClients().includes(name ?? ""), "a new pair");
    expect(await b.store.isActive(first.userId, first.id)).toBe(true);
    const hits = b.stats().hits;
    expect(await b.store.isActive(first.userId, first.id)).toBe(true);
    expect(b.stats().hits).toBe(hits + 1);
  });

  it.runIf(topology === "standalone")(
    "empties its cache when its invalidation connection stops answering (a silent partition)",
    async () => {
      const proxy = await stallingProxy(Number(new URL(inject("redisUrl")).port));
      try {
        const open = () => new Redis({ host: "127.0.0.1", port: proxy.port, ...pairConnectionOptions });
        const b = await instanceB({ tracking: singleServerTracking(open, TIMING) });
        const { userId, id } = await newSession();
        await b.store.isActive(userId, id);
        expect(b.stats().sessions).toBe(1);
        const reset = new Promise<string>((resolve) => b.onReset(resolve));
        proxy.stall(); // no FIN, no RST: only the heartbeat can tell
        await a.revoke(userId, id);
        expect(await reset).toMatch(/stopped answering/);
        expect(b.stats().sessions).toBe(0);
        expect(await b.store.isActive(userId, id)).toBe(false);
      } finally {
        proxy.close();
      }
    },
  );

  /**
   * Checks `userId`'s session `id` on B in a loop that never yields to the event loop, until B
   * stops answering it from memory (a miss: B reads Redis); that check's answer, or undefined.
   */
  function spinUntilMiss(b: CachedLiveness, userId: string, id: string, timeoutMs = 5000): Promise<boolean> | undefined {
    const misses = b.stats().misses;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const answer = b.store.isActive(userId, id);
      if (b.stats().misses > misses) return answer;
    }
    return undefined;
  }

  const redisCli = (...args: string[]) => execFileSync("redis-cli", ["-u", inject("redisUrl"), ...args], { encoding: "utf8" });

  it.runIf(topology === "standalone")(
    "refuses a cached session once its invalidation reached the process, while the event loop is still blocked",
    async () => {
      const b = await instanceB();
      const { userId, id } = await newSession();
      expect(await b.store.isActive(userId, id)).toBe(true);
      expect(await b.store.isActive(userId, id)).toBe(true);
      let heard = false;
      b.onInvalidation(() => {
        heard = true;
      });
      // From here to the checks this event loop never yields: the deletion runs in another
      // process, and only the invalidation thread can learn of it.
      expect(redisCli("DEL", `${prefix}{${userId}}:s:${id}`).trim()).toBe("1");
      const answer = spinUntilMiss(b, userId, id);
      expect(heard).toBe(false); // the event loop has not run the thread's message yet
      expect(answer).toBeDefined(); // … and the cached "alive" was refused all the same
      expect(await answer).toBe(false);
    },
  );

  it.runIf(topology === "standalone")(
    "distrusts its cache once its invalidation connection is killed, while the event loop is still blocked",
    async () => {
      const b = await instanceB();
      const { userId, id } = await newSession();
      expect(await b.store.isActive(userId, id)).toBe(true);
      const named = await clientNamed(admin, b.invalidationClients()[0] ?? "");
      expect(named).toBeDefined();
      const resets: string[] = [];
      b.onReset((reason) => resets.push(reason));
      // Blocked from here: the connection dies, then the session is deleted, and its invalidation
      // has nowhere to go. Only the thread sees the connection close.
      redisCli("CLIENT", "KILL", "ID", named?.id ?? "");
      expect(redisCli("DEL", `${prefix}{${userId}}:s:${id}`).trim()).toBe("1");
      const answer = spinUntilMiss(b, userId, id);
      expect(answer).toBeDefined();
      expect(await answer).toBe(false);
      // The read that followed found the connection flagged lost and reset the pair itself.
      expect(resets[0]).toMatch(/closed/);
      expect(b.stats().sessions).toBe(0);
    },
  );

  it("refuses on the instance that ended a user's access before that call returns", async () => {
    const b = await instanceB();
    const { userId, id } = await newSession();
    expect(await b.store.isActive(userId, id)).toBe(true);
    // B itself ends the access (its own store): no waiting for the invalidation.
    await b.store.endAccess(userId, { epoch: 1 });
    expect(await b.store.isActive(userId, id)).toBe(false);
  });

  it("never reads a tenant's generation as missing: creates it, and reads a lost one as a new one", async () => {
    const b = await instanceB();
    const tenant = `g${randomBytes(4).toString("hex")}`;
    const key = `${prefix}{t:${tenant}}:g`;
    const first = await b.store.tenantGeneration(tenant);
    expect(first).not.toBe("");
    expect(await admin.get(key)).toBe(first);
    expect(await b.store.tenantGeneration(tenant)).toBe(first);
    // Lost (a restart without persistence, an eviction): once B hears of it, a new generation.
    await admin.del(key);
    const deadline = Date.now() + 5000;
    let now = await b.store.tenantGeneration(tenant);
    while (now === first && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      now = await b.store.tenantGeneration(tenant);
    }
    expect(now).not.toBe("");
    expect(now).not.toBe(first);
    expect(await admin.get(key)).toBe(now);
  });
});

/** A TCP proxy to Redis that can stop forwarding without closing anything. */
async function stallingProxy(target: number): Promise<{ port: number; stall(): void; close(): void }> {
  const sockets: Socket[] = [];
  let stalled = false;
  const server: Server = createServer((client) => {
    const upstream = connect(target, "127.0.0.1");
    sockets.push(client, upstream);
    client.on("data", (chunk) => stalled || upstream.write(chunk));
    upstream.on("data", (chunk) => stalled || client.write(chunk));
    for (const socket of [client, upstream]) socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    stall: () => {
      stalled = true;
    },
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
