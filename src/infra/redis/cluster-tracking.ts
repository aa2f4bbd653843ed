/**
 * Client-side caching on a Redis Cluster: one tracking pair (tracking-pair.ts) per master, since
 * a server only tracks the keys read on it and can redirect invalidations only to a connection of
 * its own. A key is read through the pair of its slot's master in the Cluster client's current
 * slot map; a pair appears when a master joins the map (at start, after a failover promoted a
 * replica, or a resharding added one) and goes when its master leaves it, emptying the cache.
 *
 * What the Cluster adds to what one server guarantees: a slot moved away from a node (resharding)
 * takes its keys with it, and a key deleted from a node is invalidated by that node, so a cached
 * key never outlives its move; a read through a pair whose node no longer serves the slot fails
 * (MOVED), which resets that pair, and is answered through the Cluster client instead. A failover
 * closes the old master's connections (or stops its heartbeat), which empties the cache too.
 */
import type { Cluster, Redis } from "ioredis";
import { InvalidationThread } from "./invalidation-thread.js";
import { keySlot } from "./key-slot.js";
import { combine, type KeyTracking, type TrackingListener, type TrackingTiming } from "./key-tracking.js";
import { TrackingPair } from "./tracking-pair.js";

/** `open(node)`: a new lazy, never-reconnecting RESP2 tracking reader of a master. One invalidation thread holds every pair's invalidation connection. */
export function clusterTracking(
  cluster: Cluster,
  open: (node: { host: string; port: number }) => Redis,
  timing: TrackingTiming,
): KeyTracking {
  const thread = new InvalidationThread(timing);
  let listener: TrackingListener | undefined;
  const pairs = new Map<string, TrackingPair>();
  const events = combine(
    () => [...pairs.values()],
    () => listener,
  );

  /** Pairs for the masters of the current slot map, and none for the others. */
  function sync(): void {
    if (listener === undefined) return;
    const masters = new Map(cluster.nodes("master").map((node) => [`${node.options.host}:${node.options.port}`, node]));
    for (const [address, pair] of pairs) {
      if (masters.has(address)) continue;
      pairs.delete(address);
      pair.close();
      events.onReset(pair, "a master left the cluster's slot map");
    }
    for (const [address, node] of masters) {
      if (pairs.has(address)) continue;
      const at = { host: String(node.options.host), port: Number(node.options.port) };
      const pair: TrackingPair = new TrackingPair({
        open: () => open(at),
        thread,
        onInvalidate: events.onInvalidate,
        onReset: (reason) => events.onReset(pair, reason),
        onRound: (seq) => events.onRound(pair, seq),
        onProblem: timing.onProblem,
      });
      pairs.set(address, pair);
      pair.start();
    }
  }

  const pairOf = (key: string) => {
    const owner = (cluster.slots as string[][])[keySlot(key)]?.[0];
    return owner === undefined ? undefined : pairs.get(owner);
  };

  return {
    epochs: thread.epochs,
    readerFor: (key) => pairOf(key)?.reader,
    readFailed: (key, error) => pairOf(key)?.fail("a tracked read failed", error),
    invalidationClients: () =>
      [...pairs.values()].flatMap((pair) => (pair.invalidationClientName === undefined ? [] : [pair.invalidationClientName])),
    start(to) {
      listener = to;
      for (const event of ["refresh", "+node", "-node", "ready"]) cluster.on(event, sync);
      sync();
    },
    close() {
      for (const event of ["refresh", "+node", "-node", "ready"]) cluster.off(event, sync);
      for (const pair of pairs.values()) pair.close();
      pairs.clear();
      thread.close();
    },
  };
}
