/**
 * Announcements to every instance over Redis pub/sub (key-ring rotations; changes of roles and
 * permissions), on any topology.
 *
 * Regular PUBLISH/SUBSCRIBE, not sharded SPUBLISH/SSUBSCRIBE: on a Cluster a PUBLISH reaches every
 * node over the cluster bus, so a subscriber needs one connection to any node, which moves to
 * another node when its node goes away. Sharded pub/sub saves that broadcast, which matters for
 * channels busy enough to load the bus; ours carry a message when an operator rotates keys or
 * changes a role, and sharding them would cost a subscriber connection per master. On Sentinel the subscriber follows
 * the master through a failover, like every connection. A message published while a subscriber is
 * reconnecting is lost: a subscriber hears `onResubscribed` after each interruption and makes up
 * for it (reloads the key ring, forgets its cached grants).
 */
import { Redis } from "ioredis";
import type { RedisConfig } from "../../config/redis.js";
import { clusterNodeAddresses, connectionPlan, isCluster, openRedis, type RedisClient, type RedisHooks, reconnectDelay } from "./client.js";

/**
 * Publishes `message` on `channel`; answers how many subscribers were listening. On a Cluster
 * PUBLISH counts the receiving node's subscribers only, so every node, replicas included, is
 * asked (PUBSUB NUMSUB) over a short-lived connection: meant for the CLI, not for a hot path.
 */
export async function publish(client: RedisClient, channel: string, message: string): Promise<number> {
  const local = await client.publish(channel, message);
  if (!isCluster(client)) return local;
  const counts = await Promise.all(
    (await clusterNodeAddresses(client)).map(async ({ host, port }) => {
      const node = new Redis({ ...client.options.redisOptions, host, port, lazyConnect: true, maxRetriesPerRequest: 0 });
      try {
        await node.connect();
        const reply = (await node.pubsub("NUMSUB", channel)) as [string, number | string];
        return Number(reply[1] ?? 0);
      } finally {
        node.disconnect();
      }
    }),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}

export interface Subscription {
  /** Resolves once the first subscription is in place (it is retried while Redis is away). */
  readonly ready: Promise<void>;
  close(): void;
}

export interface SubscribeOptions {
  /** Heard after each interruption, once subscribed again: messages may have been missed meanwhile. */
  readonly onResubscribed?: () => void;
}

/**
 * Subscribes to `channel` on a connection of its own (a subscribed connection can send nothing
 * else), which waits while Redis is away and subscribes again after every reconnection. On a
 * Cluster the connection goes to one node (each hears every PUBLISH), the next seed node of
 * REDIS_CLUSTER_NODES when that one stays unreachable.
 */
export async function subscribe(
  config: RedisConfig,
  channel: string,
  onMessage: (message: string) => void,
  hooks: RedisHooks,
  options: SubscribeOptions = {},
): Promise<Subscription> {
  let subscribedBefore = false;
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  const attach = (connection: Redis) => {
    connection.on("message", (received: string, message: string) => {
      if (received === channel) onMessage(message);
    });
    // ioredis subscribes again on every (re)connection of this connection, before "ready".
    connection.on("ready", () => {
      if (subscribedBefore) options.onResubscribed?.();
      subscribedBefore = true;
      resolveReady();
    });
    connection.subscribe(channel).catch(() => {
      // Only when the connection is closed for good: a cluster subscriber then moves on.
    });
  };
  if (config.topology.kind !== "cluster") {
    const connection = (await openRedis(config, hooks, "subscriber")) as Redis;
    attach(connection);
    return { ready, close: () => connection.disconnect() };
  }
  return { ready, ...clusterNodeSubscriber(config, config.topology.nodes, attach, hooks) };
}

/** Failed reconnections to one Cluster node before its subscriber moves to the next seed node. */
const ATTEMPTS_PER_NODE = 3;

function clusterNodeSubscriber(
  config: RedisConfig,
  nodes: readonly { host: string; port: number }[],
  attach: (connection: Redis) => void,
  hooks: RedisHooks,
): { close(): void } {
  const plan = connectionPlan(config, "subscriber");
  const nodeOptions = plan.kind === "cluster" ? plan.options.redisOptions : {};
  let next = 0;
  let closed = false;
  let current: Redis | undefined;
  const connect = () => {
    const node = nodes[next++ % nodes.length];
    if (node === undefined || closed) return;
    const connection = new Redis({
      ...nodeOptions,
      host: node.host,
      port: node.port,
      enableOfflineQueue: true,
      retryStrategy: (attempt) => (attempt > ATTEMPTS_PER_NODE ? null : reconnectDelay(attempt)),
    });
    connection.on("error", hooks.onError);
    connection.once("end", () => {
      if (!closed) setTimeout(connect, 100).unref();
    });
    attach(connection);
    current = connection;
  };
  connect();
  return {
    close() {
      closed = true;
      current?.disconnect();
    },
  };
}
