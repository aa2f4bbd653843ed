/**
 * A read racing the invalidation thread's loss of its connection (found by a review): the thread
 * flags the connection lost and then moves the global epoch; the event loop takes its epoch mark
 * before it checks the flag. Whichever the interleaving, a value read on a reader whose redirect
 * target is dead (Redis then drops its invalidations) is never cached: either the flag is seen
 * and nothing is read through the cache, or the mark predates the move and the value is refused
 * when it settles. Before, the mark was taken after the flag check, so a loss between the two
 * let the value be cached and answered alive until the event loop heard of the loss.
 */
import { describe, expect, it } from "vitest";
import { Epochs, GLOBAL } from "../../src/infra/redis/invalidation-epochs.js";
import type { KeyTracking, TrackingListener } from "../../src/infra/redis/key-tracking.js";
import { LivenessCache } from "../../src/infra/redis/liveness-cache.js";

describe("a read racing the loss of the invalidation connection", () => {
  it("is not cached when the thread records the loss just after the flag was checked", async () => {
    const epochs = new Epochs();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const reader = { pttl: async () => 60_000 };
    let listener: TrackingListener | undefined;
    let threadActs = false;
    const tracking: KeyTracking = {
      epochs,
      readerFor: () => {
        if (Atomics.load(flag, 0) !== 0) return undefined; // TrackingPair.reader's check
        if (threadActs) {
          // The thread, on the other core, right after that check: as InvalidationProgram's #lose.
          Atomics.store(flag, 0, 1);
          Atomics.add(epochs.view, GLOBAL, 1);
        }
        return reader as never;
      },
      readFailed: () => {},
      invalidationClients: () => [],
      start: (to) => (listener = to),
      close: () => {},
    };
    const cache = new LivenessCache(tracking, "p", 100);
    expect(listener).toBeDefined();
    threadActs = true;
    const read = await cache.read(
      cache.sessions,
      "s1",
      "u1",
      "p{u1}:s:s1",
      async (r) => Date.now() + (await (r as unknown as typeof reader).pttl()),
    );
    expect(Atomics.load(flag, 0)).toBe(1);
    expect(read).toBeUndefined(); // not trusted: the caller reads Redis the ordinary way
    expect(cache.sessions.get("s1", "u1")).toBeUndefined();
  });

  it("never caches a key with a lone surrogate (Redis would hand it back as U+FFFD, marking another slot)", async () => {
    let reads = 0;
    const tracking: KeyTracking = {
      epochs: new Epochs(),
      readerFor: () => ({}) as never,
      readFailed: () => {},
      invalidationClients: () => [],
      start: () => {},
      close: () => {},
    };
    const cache = new LivenessCache(tracking, "p", 100);
    const read = async () => {
      reads++;
      return Date.now() + 60_000;
    };
    expect(await cache.read(cache.sessions, "s\ud800", "u1", "p{u1}:s:s\ud800", read)).toBeUndefined();
    expect(cache.sessions.get("s\ud800", "u1")).toBeUndefined();
    expect(reads).toBe(0);
    // A well-formed key with a surrogate pair is cached as usual.
    expect(await cache.read(cache.sessions, "s\u{1F600}", "u1", "p{u1}:s:s\u{1F600}", read)).toBeGreaterThan(Date.now());
  });
});
