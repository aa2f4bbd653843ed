/**
 * Writes that end access return only once Redis has sent the invalidations they caused.
 *
 * Redis sends a write's reply and the invalidations it causes (client-side caching, to every
 * instance's invalidation connection: session-liveness.ts) in the same batch of socket writes, the
 * reply first. Under CPU contention it was preempted between the two for up to 188 ms (the attack
 * review of 2026-11-25, strace of redis-server), so a caller could hear its Logout answered and ask
 * another instance before the invalidation had even left Redis. A command sent once the write's
 * reply has arrived is read by Redis only after that batch is out: one such barrier (an EXISTS on
 * the written key, so that a Cluster routes it to the same master) before an ending call returns
 * means the invalidation is on its way to every instance; what is left is the other instance's
 * thread reading its socket.
 *
 * Redis writes at most 64 KB to one connection per turn of its event loop (NET_MAX_WRITES_PER_EVENT)
 * and the rest in later turns: a write that ended many sessions (their keys named in one
 * invalidation) gets one more barrier per 300 sessions (~40 KB of key names), each one more turn.
 * Invalidations queued behind another client's burst (thousands of sessions ended at once) may
 * still be in Redis when the barrier returns. A failed barrier fails nothing: the write is done.
 *
 * Applied to every store the service and the command line open (adapters.ts `sessionStoreFor`).
 */
import type { SessionStore } from "../../domain/ports.js";
import { sessionKeys } from "./keys.js";

/** Sessions ended per extra barrier: about 40 KB of key names in the invalidation. */
const SESSIONS_PER_BARRIER = 300;

export function withEndingBarriers(store: SessionStore, prefix: string, barrier: (key: string) => Promise<unknown>): SessionStore {
  const keys = sessionKeys(prefix);
  const pass = async (key: string, times = 1): Promise<void> => {
    for (let i = 0; i < times; i++) await barrier(key).catch(() => {});
  };
  return {
    ...store,
    async revoke(userId, sessionId) {
      const ended = await store.revoke(userId, sessionId);
      await pass(keys.session(userId, sessionId));
      return ended;
    },
    async endAccess(userId, change) {
      const ended = await store.endAccess(userId, change);
      await pass(keys.state(userId), 1 + Math.floor(ended / SESSIONS_PER_BARRIER));
      return ended;
    },
    async keepNewest(userId, max, keep) {
      const ended = await store.keepNewest(userId, max, keep);
      if (ended > 0) await pass(keys.state(userId));
      return ended;
    },
    async rotate(request) {
      const outcome = await store.rotate(request);
      // Reuse ended the whole session.
      if (outcome.kind === "reused") await pass(keys.session(request.userId, request.sessionId));
      return outcome;
    },
    async tenantChanged(tenant) {
      await store.tenantChanged(tenant);
      await pass(keys.tenantGeneration(tenant));
    },
  };
}
