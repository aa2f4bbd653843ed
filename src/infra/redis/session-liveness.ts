/**
 * Session liveness without a Redis round trip in the usual case: a SessionStore whose `isActive`
 * and `isUserDisabled` answer from a per-process cache that Redis invalidates (server-assisted
 * client-side caching, key-tracking.ts), and whose other operations are the store's own.
 *
 * The guarantee, which replaces "refused at once": a session is refused on an instance as soon as
 * Redis's invalidation of its key has reached that instance's process (its invalidation thread,
 * invalidation-thread.ts, which publishes it in shared memory at once, whatever the event loop is
 * doing); from then on no ValidateToken (nor any bearer call) there answers it as alive, including
 * one whose read was in flight when the invalidation came (tracked-map.ts). On the instance that
 * ended it, it is refused before the ending call returns (a fence). Whenever invalidations might
 * have been lost (a connection of the tracking pair dropped, reconnected, or stopped answering
 * its heartbeat; the invalidation thread failed or stopped), nothing cached is trusted for the
 * next answer (the thread moves the shared global epoch before it reports the loss) and nothing
 * is cached until the pair is up again: those calls read Redis, as without the cache.
 *
 * What is cached: "session S of user U is alive until T" (from PTTL: Redis's own expiry, read
 * relative to the moment the read was sent, so a remembered session is never kept past its key's
 * expiry even if Redis has not yet expired it) or "is gone" (while no session of the old layout
 * can remain: legacy-sessions.ts), and whether user U is marked disabled (the `:st` hash). Keys
 * are the session's id and the user's id; each entry remembers its user.
 */
import type { SessionStore } from "../../domain/ports.js";
import type { KeyTracking } from "./key-tracking.js";
import { sessionKeys } from "./keys.js";
import type { LegacySessions } from "./legacy-sessions.js";
import { GONE, LivenessCache } from "./liveness-cache.js";

const ALIVE = Promise.resolve(true);
const NOT_ALIVE = Promise.resolve(false);

export interface LivenessStats {
  readonly hits: number;
  readonly misses: number;
  readonly invalidations: number;
  readonly resets: number;
  readonly sessions: number;
}

export interface CachedLiveness {
  readonly store: SessionStore;
  stats(): LivenessStats;
  /**
   * Listens to every invalidation this process receives (for the benchmark's propagation probe
   * and tests), when the event loop gets to it; `atUs`: when it reached the process (the
   * invalidation thread) and was honoured, µs since the epoch.
   */
  onInvalidation(listener: (keys: readonly string[] | null, atUs: number) => void): void;
  /** Hears each reset (the cache emptied). */
  onReset(listener: (reason: string) => void): void;
  /** The client names of the invalidation connections that are up (CLIENT LIST shows them). */
  invalidationClients(): string[];
  close(): void;
}

export interface LivenessOptions {
  readonly prefix: string;
  /** Sessions remembered per process; the oldest go first. */
  readonly capacity: number;
  readonly legacy: LegacySessions;
}

export function cachedLiveness(store: SessionStore, tracking: KeyTracking, options: LivenessOptions): CachedLiveness {
  const cache = new LivenessCache(tracking, options.prefix, options.capacity);
  return {
    store: { ...store, ...cachedReads(store, cache, options), ...fencedWrites(store, cache) },
    stats: () => ({ ...cache.counts, sessions: cache.sessions.size }),
    onInvalidation: (listener) => cache.onInvalidation(listener),
    onReset: (listener) => cache.onReset(listener),
    invalidationClients: () => tracking.invalidationClients(),
    close: () => tracking.close(),
  };
}

/** The reads answered from the cache, and through a tracked read (or the store's own) when it has nothing. */
function cachedReads(
  store: SessionStore,
  cache: LivenessCache,
  { prefix, legacy }: LivenessOptions,
): Pick<SessionStore, "isActive" | "isUserDisabled" | "tenantGeneration"> {
  const keys = sessionKeys(prefix);
  const { sessions, disabled, generations, counts } = cache;

  async function readLiveness(userId: string, sessionId: string): Promise<boolean> {
    const key = keys.session(userId, sessionId);
    const until = await cache.read(sessions, sessionId, userId, key, (reader) => {
      const sentAt = Date.now();
      return reader.pttl(key).then((ttl) => (ttl === -2 ? GONE : ttl === -1 ? Number.POSITIVE_INFINITY : sentAt + ttl));
    });
    // Not trusted (raced an invalidation or a reset, or no tracking), or gone while sessions of
    // the old layout may still be moved: the store's own check.
    if (until === undefined || (until === GONE && legacy.active)) return store.isActive(userId, sessionId);
    return until > Date.now();
  }

  return {
    isActive(userId, sessionId) {
      const until = sessions.get(sessionId, userId);
      if (until !== undefined && (until > Date.now() || (until === GONE && !legacy.active))) {
        counts.hits += 1;
        return until === GONE ? NOT_ALIVE : ALIVE;
      }
      counts.misses += 1;
      return readLiveness(userId, sessionId);
    },
    async isUserDisabled(userId) {
      const key = keys.state(userId);
      const mark =
        disabled.get(userId, userId) ?? (await cache.read(disabled, userId, userId, key, async (r) => (await r.hexists(key, "d")) === 1));
      return mark ?? store.isUserDisabled(userId);
    },
    async tenantGeneration(tenant) {
      const key = keys.tenantGeneration(tenant);
      const generation =
        generations.get(tenant, tenant) ?? (await cache.read(generations, tenant, tenant, key, async (r) => (await r.get(key)) ?? ""));
      // Missing (read as ""), or not trusted: the store's read, which creates a missing generation
      // (its write invalidates the "" kept here).
      return generation === undefined || generation === "" ? store.tenantGeneration(tenant) : generation;
    },
  };
}

/**
 * The writes of this process, which its own cache sees before they return (read-your-writes on
 * this instance), whatever became of them. (Other instances: ending-barriers.ts.)
 */
function fencedWrites(
  store: SessionStore,
  cache: LivenessCache,
): Pick<SessionStore, "revoke" | "rotate" | "touch" | "endAccess" | "restoreAccess" | "tenantChanged"> {
  const after = async <T>(write: Promise<T>, then: () => void): Promise<T> => {
    try {
      return await write;
    } finally {
      then();
    }
  };
  const endedHere = (sessionId: string) => () => cache.sessions.invalidate(sessionId);
  // Every session and state of the user read before this is stale.
  const fenced = (userId: string) => () => {
    cache.stamps.fence(userId);
    cache.disabled.invalidate(userId);
  };
  return {
    revoke: (userId, sessionId) => after(store.revoke(userId, sessionId), endedHere(sessionId)),
    rotate: (request) => after(store.rotate(request), endedHere(request.sessionId)),
    touch: (userId, sessionId, now, idleTtlMs, epoch) => after(store.touch(userId, sessionId, now, idleTtlMs, epoch), endedHere(sessionId)),
    endAccess: (userId, change) => after(store.endAccess(userId, change), fenced(userId)),
    restoreAccess: (userId, epoch) => after(store.restoreAccess(userId, epoch), fenced(userId)),
    tenantChanged: (tenant) => after(store.tenantChanged(tenant), () => cache.generations.invalidate(tenant)),
  };
}
