/**
 * The connections that read cached keys, for every topology: one tracking pair (tracking-pair.ts)
 * per server that holds keys. A standalone Redis, or a Sentinel group's master, is one server;
 * a Cluster has one pair per master, and a key is read through the pair of its slot's master.
 *
 * What the cache above sees: `readerFor(key)` (a reader while that key's pair is up; otherwise
 * undefined, and the caller reads through the ordinary client and caches nothing), the epochs
 * the invalidation thread publishes in shared memory (invalidation-epochs.ts: what a cached value
 * is checked against on every hit), and three events: keys invalidated, a reset (everything
 * cached must go), and a completed heartbeat round (every change made before PING number `seq`
 * was sent has been announced by every pair that is up).
 */
import type { Redis } from "ioredis";
import type { Epochs } from "./invalidation-epochs.js";
import { InvalidationThread, type ThreadTiming } from "./invalidation-thread.js";
import { TrackingPair } from "./tracking-pair.js";

export interface TrackingListener {
  /** `atUs`: when the invalidation reached the process (µs since the epoch), which may be well before this call. */
  invalidate(keys: readonly string[] | null, atUs: number): void;
  reset(reason: string): void;
  /** Every pair that is up has announced every change made before PING number `seq` was sent (Epochs.pingSeq). */
  round(seq: number): void;
}

export interface KeyTracking {
  /** What the invalidation thread publishes; a cached value is trusted only while its marks hold. */
  readonly epochs: Epochs;
  /** The tracking reader of the server holding `key`, while its pair is up. */
  readerFor(key: string): Redis | undefined;
  /** A tracked read failed: that pair resets (the cache goes) and is rebuilt. */
  readFailed(key: string, error: unknown): void;
  /** The client names of the invalidation connections that are up. */
  invalidationClients(): string[];
  /** Starts the pairs; events go to `listener` from then on. */
  start(listener: TrackingListener): void;
  close(): void;
}

/** The invalidation thread's timing and reports (invalidation-thread.ts), its nice value left to it. */
export type TrackingTiming = Omit<ThreadTiming, "niceness">;

export const DEFAULT_TIMING = { heartbeatMs: 500, staleAfterMs: 2000 } as const;

/**
 * Pairs as one: the listener hears every pair's invalidations and resets, and a round once every
 * pair that is up has completed one after it.
 */
export function combine(pairs: () => readonly TrackingPair[], listener: () => TrackingListener | undefined) {
  const acked = new Map<TrackingPair, number>();
  let reported = Number.NEGATIVE_INFINITY;
  return {
    onInvalidate: (keys: readonly string[] | null, atUs: number) => listener()?.invalidate(keys, atUs),
    onReset: (pair: TrackingPair, reason: string) => {
      acked.delete(pair);
      listener()?.reset(reason);
    },
    onRound: (pair: TrackingPair, seq: number) => {
      acked.set(pair, seq);
      let lowest = Number.POSITIVE_INFINITY;
      for (const each of pairs()) if (each.up) lowest = Math.min(lowest, acked.get(each) ?? Number.NEGATIVE_INFINITY);
      if (lowest > reported && Number.isFinite(lowest)) {
        reported = lowest;
        listener()?.round(lowest);
      }
    },
  };
}

/**
 * One server (standalone, or a Sentinel group's master: `open` returns readers that find the
 * current master, and a failover closes them, which resets the pair).
 */
export function singleServerTracking(open: () => Redis, timing: TrackingTiming): KeyTracking {
  const thread = new InvalidationThread(timing);
  let listener: TrackingListener | undefined;
  let pair: TrackingPair | undefined;
  const events = combine(
    () => (pair === undefined ? [] : [pair]),
    () => listener,
  );
  return {
    epochs: thread.epochs,
    readerFor: () => pair?.reader,
    readFailed: (_key, error) => pair?.fail("a tracked read failed", error),
    invalidationClients: () => (pair?.invalidationClientName === undefined ? [] : [pair.invalidationClientName]),
    start(to) {
      listener = to;
      const self: TrackingPair = new TrackingPair({
        open,
        thread,
        onInvalidate: events.onInvalidate,
        onReset: (reason) => events.onReset(self, reason),
        onRound: (seq) => events.onRound(self, seq),
        onProblem: timing.onProblem,
      });
      pair = self;
      self.start();
    },
    close() {
      pair?.close();
      thread.close();
    },
  };
}

/**
 * Options for a pair's tracking reader, over those of the service's own client: RESP2 (see
 * tracking-pair.ts), no ioredis reconnection and no queue (the pair rebuilds itself), connected
 * when the pair says so.
 */
export const pairConnectionOptions = {
  protocol: 2,
  lazyConnect: true,
  retryStrategy: () => null,
  enableOfflineQueue: false,
  autoResubscribe: false,
  autoResendUnfulfilledCommands: false,
  maxRetriesPerRequest: 0,
  reconnectOnError: null,
} as const;
