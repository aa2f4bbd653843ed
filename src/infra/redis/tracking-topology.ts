/**
 * The connections that read cached keys, for the configured topology, built on the client
 * factory's own connection plan (client.ts): the same server, credentials, TLS and Sentinel
 * settings as the service's client, with the tracking pairs' own options over them.
 */
import { type Cluster, Redis, type RedisOptions } from "ioredis";
import type { RedisConfig } from "../../config/redis.js";
import { connectionPlan, isCluster, type RedisClient } from "./client.js";
import { clusterTracking } from "./cluster-tracking.js";
import { type KeyTracking, pairConnectionOptions, singleServerTracking, type TrackingTiming } from "./key-tracking.js";

/** Tracking for `client`'s topology; undefined for the embedded stand-in (in this process already). */
export function trackingFor(config: RedisConfig, client: RedisClient, timing: TrackingTiming): KeyTracking | undefined {
  if (config.topology.kind === "embedded") return undefined;
  const plan = connectionPlan(config, "commands");
  const named = (role: string): RedisOptions => ({ ...pairConnectionOptions, connectionName: `authward-${role}` });
  if (plan.kind === "cluster") {
    if (!isCluster(client)) throw new Error("a Cluster's tracking needs the Cluster client");
    const nodeOptions = plan.options.redisOptions ?? {};
    return clusterTracking(client as Cluster, (node, role) => new Redis({ ...nodeOptions, ...node, ...named(role) }), timing);
  }
  // Standalone, or a Sentinel group: the options find the current master on every connection.
  return singleServerTracking(
    (role) =>
      plan.url === undefined ? new Redis({ ...plan.options, ...named(role) }) : new Redis(plan.url, { ...plan.options, ...named(role) }),
    timing,
  );
}
