/**
 * The session-liveness cache across a Redis failover, on a deployment of its own (a Cluster of
 * three masters with a replica each; a Sentinel group of a master, a replica and three sentinels):
 * instance B remembers sessions, a master is failed over (`CLUSTER FAILOVER` on a replica,
 * `SENTINEL FAILOVER`), then instance A ends them. B must refuse every one soon after: through
 * the invalidations of the demoted master (a replica applies the new master's deletions and
 * announces them), or because B's tracking of the old master was reset (its connections closed,
 * its reads answered MOVED, or it left the slot map). And B still remembers new sessions after it.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import type { SessionStore } from "../../src/domain/ports.js";
import { closeRedis, openRedis, type RedisClient, waitForRedis } from "../../src/infra/redis/client.js";
import { noLegacySessions } from "../../src/infra/redis/legacy-sessions.js";
import { type CachedLiveness, cachedLiveness } from "../../src/infra/redis/session-liveness.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";
import { trackingFor } from "../../src/infra/redis/tracking-topology.js";
import { clusterSlot } from "../support/cluster-slot.js";
import {
  failOver,
  type RedisCluster,
  type RedisSentinel,
  redisCli,
  startRedisCluster,
  startRedisSentinel,
} from "../support/redis-topologies.js";
import { sessionFields } from "../support/sessions.js";

const DAY = 86_400_000;
const SESSIONS = 24;

async function eventually(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Retries a write that meets the failover (UNAVAILABLE) until it goes through. */
async function retried<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe.each(["cluster", "sentinel"] as const)("the session cache across a Redis %s failover", (topology) => {
  let cluster: RedisCluster | undefined;
  let sentinel: RedisSentinel | undefined;
  let env: Record<string, string>;
  const clients: RedisClient[] = [];
  let a: SessionStore;
  let b: CachedLiveness;
  const prefix = `fo${randomBytes(3).toString("hex")}:`;

  const open = async () => {
    const client = await openRedis(loadConfig(env).redis, { onError: () => {} });
    if (!(await waitForRedis(client, 30_000))) throw new Error("Redis does not answer");
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    if (topology === "cluster") {
      cluster = await startRedisCluster();
      env = { REDIS_CLUSTER_NODES: cluster.seeds };
    } else {
      sentinel = await startRedisSentinel();
      env = { REDIS_SENTINELS: sentinel.seeds, REDIS_SENTINEL_MASTER: sentinel.masterName };
    }
    a = createSessionStore(await open(), prefix, 30 * DAY);
    const redisB = await open();
    const tracking = trackingFor(loadConfig(env).redis, redisB, { heartbeatMs: 200, staleAfterMs: 1000, onProblem: () => {} });
    if (tracking === undefined) throw new Error("no tracking");
    b = cachedLiveness(createSessionStore(redisB, prefix, 30 * DAY), tracking, { prefix, capacity: 1000, legacy: noLegacySessions });
    await eventually(async () => b.invalidationClients().length === (topology === "cluster" ? 3 : 1), "the tracking pairs");
  }, 120_000);
  afterAll(async () => {
    b?.close();
    for (const client of clients) await closeRedis(client);
    await cluster?.stop();
    await sentinel?.stop();
  });

  async function newSession() {
    const session = sessionFields();
    const { userId, id } = session;
    await retried(() => a.create(session));
    return { userId, id };
  }

  it("refuses on B every session A ends after the failover, and remembers sessions again after it", async () => {
    const sessions = await Promise.all(Array.from({ length: SESSIONS }, newSession));
    for (const { userId, id } of sessions) expect(await b.store.isActive(userId, id)).toBe(true);
    expect(b.stats().sessions).toBe(SESSIONS);

    const slot = clusterSlot(`{${sessions[0]!.userId}}`);
    const before = cluster !== undefined ? await cluster.masterOf(slot) : await sentinel!.master();
    const masterNow = () => (cluster !== undefined ? cluster.masterOf(slot) : sentinel!.master());
    const ask = async () => {
      if (cluster !== undefined) {
        const replica = (await cluster.roles()).replicas.find((r) => r.masterPort === before.port);
        if (replica === undefined) throw new Error("no replica");
        return redisCli(replica.node, "cluster", "failover");
      }
      return redisCli(sentinel!.sentinels[0]!, "sentinel", "failover", sentinel!.masterName);
    };
    await failOver(ask, async () => (await masterNow()).port !== before.port);
    await (cluster ?? sentinel)?.waitHealthy(60_000);

    for (const { userId, id } of sessions) await retried(() => a.revoke(userId, id));
    for (const { userId, id } of sessions) {
      await eventually(async () => !(await retried(() => b.store.isActive(userId, id))), `B to refuse session ${id}`, 10_000);
    }

    await eventually(async () => b.invalidationClients().length === (topology === "cluster" ? 3 : 1), "the tracking pairs again", 30_000);
    const fresh = await newSession();
    expect(await retried(() => b.store.isActive(fresh.userId, fresh.id))).toBe(true);
    await eventually(async () => {
      const hits = b.stats().hits;
      await b.store.isActive(fresh.userId, fresh.id);
      return b.stats().hits === hits + 1;
    }, "B to answer from memory again");
  }, 180_000);
});
