/**
 * Opens Redis for the configured topology: a standalone server, a Sentinel group (ioredis asks the
 * sentinels for the master, and again after a failover), a Redis Cluster (ioredis keeps the slot
 * map and follows MOVED), or, with nothing configured, the in-process ioredis-mock stand-in
 * (embedded mode), which runs the same commands and the same Lua.
 *
 * Every user of Redis takes a `RedisClient` and works on all of them, provided that each command,
 * MULTI, pipeline or script touches keys of one hash slot (the session keys share their user's
 * hash tag: keys.ts) and that keyless commands meant for a particular node are not sent through
 * the client: on a Cluster they go to a random node. Such commands go to `masterConnections`:
 * the readiness probe pings every master, the start-up sweep of the old key layout SCANs every
 * master, and a session write that must reach replicas sends WAIT in the same pipeline as the
 * write (so it reaches the write's node).
 *
 * For code that keeps per-connection state (subscriptions, CLIENT TRACKING): a `Redis` emits
 * `ready` after every (re)connection and `close` when one ends (a Sentinel failover is a close,
 * then a ready on the new master); a `Cluster` emits `+node` / `-node` as it connects to or drops
 * a node, and `refresh` after each slot-map refresh, and `masterConnections` lists the masters'
 * connections of its current map. `openRedis(…, "subscriber")` gives a connection of its own
 * that queues commands while disconnected and resubscribes after a reconnection.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import type { RedisConfig, RedisTopology } from "../../config/redis.js";
import { AuthError } from "../../domain/errors.js";
import { hasNetworkErrorCode } from "../network-errors.js";

/** A client of any topology. Both classes share ioredis's command interface. */
export type RedisClient = Redis | Cluster;

export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** What a connection is for: service commands fail fast while Redis is away; a subscriber waits. */
export type RedisPurpose = "commands" | "subscriber";

/** Every time bound a call can hit: a call meets UNAVAILABLE within a few seconds, never a queue. */
const CONNECT_TIMEOUT_MS = 2000;
const COMMAND_TIMEOUT_MS = 2000;

/** Reconnect forever, at most every 2 s: the service recovers without a restart. */
export const reconnectDelay = (attempt: number) => Math.min(100 * attempt, 2000);

/** The arguments of ioredis's constructors for a topology (a pure function, unit-tested). */
export type ConnectionPlan =
  | { readonly kind: "redis"; readonly url: string | undefined; readonly options: RedisOptions }
  | { readonly kind: "cluster"; readonly nodes: { host: string; port: number }[]; readonly options: ClusterOptions };

export function connectionPlan(config: RedisConfig, purpose: RedisPurpose = "commands"): ConnectionPlan {
  const { topology } = config;
  if (topology.kind === "embedded") throw new Error("the embedded stand-in has no connection plan");
  const tls = config.tls ? { ...(config.tlsCa === undefined ? {} : { ca: config.tlsCa }) } : undefined;
  const credentials = {
    ...(config.username === undefined ? {} : { username: config.username }),
    ...(config.password === undefined ? {} : { password: config.password }),
  };
  const node: RedisOptions = {
    ...credentials,
    ...(tls === undefined ? {} : { tls }),
    connectTimeout: CONNECT_TIMEOUT_MS,
    // A subscriber waits for messages: no command time-out (its SUBSCRIBE is queued, then answered).
    ...(purpose === "commands" ? { commandTimeout: COMMAND_TIMEOUT_MS } : {}),
    maxRetriesPerRequest: purpose === "commands" ? 1 : null,
    // A command in flight when its connection drops fails (UNAVAILABLE); it is not sent again on
    // the next connection, where a script could run twice and a WAIT would count the writes of a
    // connection that made none (and so acknowledge a write the old master may lose).
    autoResendUnfulfilledCommands: purpose !== "commands",
    // A former master demoted by a failover answers READONLY: reconnect (a Sentinel client asks the
    // sentinels for the new master); the command that met it fails, as UNAVAILABLE.
    reconnectOnError: (error) => error.message.startsWith("READONLY"),
  };
  // Fail fast while disconnected (callers get UNAVAILABLE) instead of queueing requests that would
  // all fire, late, when Redis comes back; a subscriber queues its SUBSCRIBE instead.
  const enableOfflineQueue = purpose === "subscriber";
  if (topology.kind === "cluster") {
    // A Cluster's demoted master answers MOVED, which ioredis follows: no READONLY to reconnect on.
    const { reconnectOnError: _, ...redisOptions } = node;
    return {
      kind: "cluster",
      nodes: topology.nodes.map(({ host, port }) => ({ host, port })),
      options: {
        enableOfflineQueue,
        clusterRetryStrategy: reconnectDelay,
        // During a failover the slot's old master closes, answers CLUSTERDOWN, TRYAGAIN or MOVED:
        // ioredis retries each after a pause and refreshes its slot map, at most maxRedirections
        // times (16 × 100 ms covers a manual failover; a longer one reaches the caller as
        // "Too many Cluster redirections", UNAVAILABLE).
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        retryDelayOnTryAgain: 100,
        retryDelayOnMoved: 0,
        maxRedirections: 16,
        slotsRefreshTimeout: CONNECT_TIMEOUT_MS,
        // Also refresh on a timer, so a failover nobody has run into yet is found.
        slotsRefreshInterval: 5000,
        redisOptions,
      },
    };
  }
  const reconnecting = { ...node, retryStrategy: reconnectDelay, enableOfflineQueue };
  if (topology.kind === "standalone") return { kind: "redis", url: topology.url, options: reconnecting };
  return { kind: "redis", url: undefined, options: { ...reconnecting, ...sentinelOptions(config, topology) } };
}

/** How to ask a Sentinel group for its master. */
function sentinelOptions(config: RedisConfig, topology: Extract<RedisTopology, { kind: "sentinel" }>): RedisOptions {
  return {
    sentinels: topology.sentinels.map(({ host, port }) => ({ host, port })),
    name: topology.masterName,
    role: "master",
    ...(config.sentinelUsername === undefined ? {} : { sentinelUsername: config.sentinelUsername }),
    ...(config.sentinelPassword === undefined ? {} : { sentinelPassword: config.sentinelPassword }),
    ...(config.tls ? { enableTLSForSentinelMode: true } : {}),
    // Listen for the sentinels' +switch-master and move at once, rather than at the next error.
    failoverDetector: true,
    sentinelRetryStrategy: reconnectDelay,
  };
}

const unavailableHooks = new WeakMap<object, () => void>();

export interface RedisHooks {
  /** Connection errors (each failed reconnection attempt). */
  readonly onError: (error: Error) => void;
  /** Each operation that found Redis unreachable. */
  readonly onUnavailable?: () => void;
}

/** Opens Redis for the configured topology, or the in-process stand-in when none is. */
export async function openRedis(config: RedisConfig, hooks: RedisHooks, purpose: RedisPurpose = "commands"): Promise<RedisClient> {
  if (config.topology.kind === "embedded") {
    const { default: RedisMock } = await import("ioredis-mock");
    const mock = new RedisMock();
    unavailableHooks.set(mock, hooks.onUnavailable ?? (() => {}));
    return mock;
  }
  const plan = connectionPlan(config, purpose);
  let client: RedisClient;
  if (plan.kind === "cluster") {
    client = new Cluster(plan.nodes, plan.options);
    // A node that cannot be reached (its address is in the error) is an outage of its slots.
    client.on("node error", (error: Error) => hooks.onError(error));
  } else {
    client = plan.url === undefined ? new Redis(plan.options) : new Redis(plan.url, plan.options);
  }
  client.on("error", hooks.onError);
  unavailableHooks.set(client, hooks.onUnavailable ?? (() => {}));
  return client;
}

/**
 * The connections to the masters: the client itself, or on a Cluster one per master of its
 * current slot map (empty while it has none).
 */
export function masterConnections(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes("master") : [client];
}

/**
 * Every node of a Cluster, replicas included, as CLUSTER NODES lists them (ioredis itself connects
 * to the masters only); failed nodes left out.
 */
export async function clusterNodeAddresses(cluster: Cluster): Promise<{ host: string; port: number }[]> {
  const master = masterConnections(cluster)[0];
  if (master === undefined) throw new Error("Cluster isn't ready: no master known");
  return String(await master.cluster("NODES"))
    .split("\n")
    .filter((line) => line.trim() !== "" && !/\bfail\b/.test(line.split(" ")[2] ?? ""))
    .flatMap((line) => {
      // <id> <host>:<port>@<bus port>[,<hostname>] <flags> …; an empty host means the node we asked.
      const match = /^\S+ ([^:\s]*):(\d+)@/.exec(line);
      if (!match) return [];
      return [{ host: match[1] || (master.options.host ?? "127.0.0.1"), port: Number(match[2]) }];
    });
}

/** Waits until Redis answers (every master of a Cluster), or `timeoutMs`; false when it is not reachable yet. */
export async function waitForRedis(client: RedisClient, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await probe(client);
      return true;
    } catch {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** Reply prefixes of a server that cannot serve the command now, but will (failover, start-up). */
const TRANSIENT_REPLY =
  /^(LOADING|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|READONLY|MASTERDOWN|NOREPLICAS|NOTREADY|BUSY|MASTER_NOT_READY|UNBLOCKED|WAITREPLICAS) /;

/** Messages of ioredis when it has no usable connection (standalone, Sentinel or Cluster). */
const NO_CONNECTION =
  /Connection is closed|Stream isn't writeable|Command timed out|Command aborted due to connection close|connect ECONNREFUSED|Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available|Cluster isn't ready|All sentinels are unreachable|is not reachable by any sentinel/;

/** Whether an ioredis error means Redis cannot be reached now, rather than a bad command. */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === "MaxRetriesPerRequestError" || error.name === "ClusterAllFailedError" || hasNetworkErrorCode(error)) return true;
  return TRANSIENT_REPLY.test(error.message) || NO_CONNECTION.test(error.message);
}

/**
 * Runs a Redis operation, reporting an unreachable server as UNAVAILABLE. Anything else (a script
 * error, a wrong command, CROSSSLOT) is a bug, not an outage, and passes through as INTERNAL.
 */
export async function redisCall<T>(client: RedisClient, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isRedisUnavailable(error)) {
      unavailableHooks.get(client)?.();
      throw new AuthError("UNAVAILABLE", { cause: error });
    }
    throw error;
  }
}

/**
 * One round trip to each master. On a Cluster, each must also say the cluster is `ok` (a master
 * cut off from the majority, or a cluster with uncovered slots, refuses commands).
 */
async function probe(client: RedisClient): Promise<void> {
  if (!isCluster(client)) {
    await client.ping();
    return;
  }
  if (client.status !== "ready") throw new Error("Cluster isn't ready");
  const masters = masterConnections(client);
  if (masters.length === 0) throw new Error("Cluster isn't ready: no master known");
  await Promise.all(
    masters.map(async (master) => {
      const info = String(await master.cluster("INFO"));
      if (!/^cluster_state:ok\s*$/m.test(info))
        throw new Error(`CLUSTERDOWN ${master.options.host}:${master.options.port} says the cluster is not ok`);
    }),
  );
}

/** Readiness probe: every master answers. */
export async function pingRedis(client: RedisClient): Promise<void> {
  await redisCall(client, () => probe(client));
}

/** Closes a client: QUIT where it can, or drops the connections. */
export async function closeRedis(client: RedisClient): Promise<void> {
  await client.quit().catch(() => client.disconnect());
}
