/**
 * Announcements between instances (infra/redis/pubsub.ts) on each topology's real servers: a
 * message published through the service's client reaches a subscriber wherever each is connected
 * (a Cluster broadcasts a PUBLISH to every node), the publisher learns how many heard it, and a
 * subscriber whose connection is cut subscribes again by itself and says so, since it may have
 * missed a message meanwhile.
 */
import { randomBytes } from "node:crypto";
import { type Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { clusterNodeAddresses, isCluster, masterConnections, type RedisClient } from "../../src/infra/redis/client.js";
import { publish, type Subscription, subscribe } from "../../src/infra/redis/pubsub.js";
import { openTopology, REDIS_TOPOLOGIES, redisEnv } from "../support/app.js";

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(REDIS_TOPOLOGIES)("announcements on a Redis %s", (topology) => {
  let publisher: RedisClient;
  let subscription: Subscription;
  const channel = `ps${randomBytes(4).toString("hex")}:announce`;
  const heard: string[] = [];
  let resubscribed = 0;

  beforeAll(async () => {
    publisher = await openTopology(topology);
    subscription = await subscribe(
      loadConfig(redisEnv(topology)).redis,
      channel,
      (message) => heard.push(message),
      { onError: () => {} },
      {
        onResubscribed: () => resubscribed++,
      },
    );
    await subscription.ready;
  });
  afterAll(() => {
    subscription?.close();
    publisher?.disconnect();
  });

  it("delivers a published message, and counts the subscriber wherever it listens", async () => {
    expect(await publish(publisher, channel, "rotated")).toBe(1);
    await until("the message", () => heard.includes("rotated"));
    expect(resubscribed).toBe(0);
  });

  it.runIf(topology === "cluster")("counts a subscriber on a replica too (a Cluster broadcasts to every node)", async () => {
    const masters = new Set(masterConnections(publisher).map((m) => m.options.port));
    const replica = (await clusterNodeAddresses(publisher as Cluster)).find((node) => !masters.has(node.port));
    if (replica === undefined) throw new Error("the suite's Cluster has no replica");
    const listener = new Redis(replica.port, replica.host);
    try {
      const received = new Promise<string>((resolve) => listener.once("message", (_channel: string, message: string) => resolve(message)));
      await listener.subscribe(channel);
      expect(await publish(publisher, channel, "to every node")).toBe(2);
      expect(await received).toBe("to every node");
    } finally {
      listener.disconnect();
    }
  });

  it("subscribes again after its connection is cut, says so, and hears the next message", async () => {
    // Every subscribed connection of the deployment is cut (others' resubscribe too, as designed).
    const nodes = isCluster(publisher) ? publisher.nodes("all") : [publisher];
    await Promise.all(nodes.map((node) => node.call("CLIENT", "KILL", "TYPE", "pubsub")));
    await until("the resubscription", () => resubscribed > 0);
    // "ready" comes as the SUBSCRIBE is sent again: publish until it is in place.
    const deadline = Date.now() + 10_000;
    let counted = 0;
    while (counted === 0 && Date.now() < deadline) counted = await publish(publisher, channel, "changed");
    expect(counted).toBe(1);
    await until("the message after the cut", () => heard.includes("changed"));
  });
});
