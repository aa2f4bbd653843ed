/**
 * Ending writes return only after their barriers (infra/redis/ending-barriers.ts), on a real Redis
 * Cluster (where the barrier must reach the written key's master) and a standalone server: each
 * barrier is answered before the call returns, one more per 300 sessions a write ended, and none
 * for writes that end nothing.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionStore } from "../../src/domain/ports.js";
import type { RedisClient } from "../../src/infra/redis/client.js";
import { withEndingBarriers } from "../../src/infra/redis/ending-barriers.js";
import { createSessionStore } from "../../src/infra/redis/sessions.js";
import { openTopology } from "../support/app.js";
import { sessionFields } from "../support/sessions.js";

const DAY = 86_400_000;

describe.each(["standalone", "cluster"] as const)("ending writes on %s Redis", (topology) => {
  let redis: RedisClient;
  let store: SessionStore;
  let prefix: string;
  const heard: string[] = [];

  beforeAll(async () => {
    redis = await openTopology(topology);
    prefix = `eb${randomBytes(4).toString("hex")}:`;
    store = withEndingBarriers(createSessionStore(redis, prefix, 30 * DAY), prefix, async (key) => {
      const found = await redis.exists(key);
      heard.push(`barrier ${key}`);
      return found;
    });
  });
  afterAll(() => redis.disconnect());

  async function sessionOf(userId: string, createdAt = Date.now()): Promise<string> {
    const session = sessionFields({ userId, createdAt });
    await store.create(session);
    return session.id;
  }

  it("answers each barrier before the ending call returns, on the written key's slot", async () => {
    heard.length = 0;
    const userId = randomUUID();
    const id = await sessionOf(userId);
    await store.revoke(userId, id);
    heard.push("revoke returned");
    await store.touch(userId, await sessionOf(userId), Date.now(), DAY, 0);
    heard.push("touch returned");
    expect(heard).toEqual([`barrier ${prefix}{${userId}}:s:${id}`, "revoke returned", "touch returned"]);
  });

  it("sends one more barrier per 300 sessions a write ended (Redis sends 64 KB per connection and turn)", async () => {
    heard.length = 0;
    const userId = randomUUID();
    await Promise.all(Array.from({ length: 650 }, () => sessionOf(userId)));
    expect(await store.endAccess(userId, { epoch: 1 })).toBe(650);
    heard.push("endAccess returned");
    expect(heard).toEqual([...Array(3).fill(`barrier ${prefix}{${userId}}:st`), "endAccess returned"]);
  });

  it("sends a barrier after the session limit ended sessions, and none when it ended nothing", async () => {
    heard.length = 0;
    const userId = randomUUID();
    for (let i = 0; i < 3; i++) await sessionOf(userId, Date.now() + i);
    expect(await store.keepNewest(userId, 3, 2)).toBe(0);
    expect(heard).toEqual([]);
    await sessionOf(userId, Date.now() + 10);
    expect(await store.keepNewest(userId, 3, 2)).toBe(2);
    expect(heard).toEqual([`barrier ${prefix}{${userId}}:st`]);
  });
});
