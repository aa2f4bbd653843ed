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
  // The reader's reads of a session never seen here (a new token's, under load: one per call) are
  // sent together, one write per turn of the event loop rather than one per read (ioredis's
  // auto-pipelining; `npm run bench` with 30,000 tokens: Redis's CPU per call 17 -> 6 µs, the
  // service's about 5 % lower). Only the reader's: its own commands (CLIENT TRACKING, CLIENT LIST,
  // pipelined too) are each awaited before the pair is up and reads begin; a read sent a little
  // later is only more likely to be distrusted as racing an invalidation (tracked-map.ts: its
  // ticket is taken before it is queued), never trusted wrongly.
  // (The invalidation connections are the invalidation thread's, not ioredis connections.)
  const reader: RedisOptions = { ...pairConnectionOptions, connectionName: "authward-reader", enableAutoPipelining: true };
  if (plan.kind === "cluster") {
    if (!isCluster(client)) throw new Error("a Cluster's tracking needs the Cluster client");
    const nodeOptions = plan.options.redisOptions ?? {};
    return clusterTracking(client as Cluster, (node) => new Redis({ ...nodeOptions, ...node, ...reader }), timing);
  }
  // Standalone, or a Sentinel group: the options find the current master on every connection.
  return singleServerTracking(
    () => (plan.url === undefined ? new Redis({ ...plan.options, ...reader }) : new Redis(plan.url, { ...plan.options, ...reader })),
    timing,
  );
}
