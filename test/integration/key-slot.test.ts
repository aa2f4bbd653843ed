/**
 * The Cluster slot the session cache routes a key by (infra/redis/key-slot.ts) is the one the
 * suite's real Cluster computes (CLUSTER KEYSLOT), for our keys and for hash-tag edge cases.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeRedis, masterConnections, type RedisClient } from "../../src/infra/redis/client.js";
import { keySlot } from "../../src/infra/redis/key-slot.js";
import { sessionKeys } from "../../src/infra/redis/keys.js";
import { openTopology } from "../support/app.js";

describe("the key slot", () => {
  let cluster: RedisClient;
  beforeAll(async () => {
    cluster = await openTopology("cluster");
  });
  afterAll(async () => {
    await closeRedis(cluster);
  });

  it("is the Cluster's own, for session keys and hash-tag edge cases", async () => {
    const keys = sessionKeys("auth:");
    const user = randomUUID();
    const samples = [
      keys.session(user, "abc"),
      keys.state(user),
      keys.userCopy(user),
      keys.tenantGeneration("acme"),
      "auth:keys:version",
      "{}x",
      "{a}{b}",
      "a{}b{c}",
      "{",
      "}{x}",
      "ключ{é}",
      "",
    ];
    const [node] = masterConnections(cluster);
    for (const key of samples) expect([key, keySlot(key)]).toEqual([key, Number(await node?.call("CLUSTER", "KEYSLOT", key))]);
  });
});
