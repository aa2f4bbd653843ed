/**
 * What one process keeps of sessions, users and tenants between Redis's invalidations
 * (session-liveness.ts says what is promised): three tracked maps (tracked-map.ts) checked
 * against the invalidation thread's epochs (invalidation-epochs.ts), the dispatch of Redis's
 * invalidation messages to them (which frees memory; answers do not wait for it), and the
 * tracked reads that fill the maps.
 *
 * The keys it knows: `<prefix>{<user>}:s:<session>` (a session), `<prefix>{<user>}:st` (the
 * user's state: the disabled mark), `<prefix>{t:<tenant>}:g` (the tenant's generation); the rest
 * of an invalidation is not ours and is ignored.
 */
import type { Redis } from "ioredis";
import type { KeyTracking } from "./key-tracking.js";
import { Stamps, TrackedMap } from "./tracked-map.js";

/** A session that is gone. */
export const GONE = 0;
const SESSION_PART = ":s:";
const OPEN_BRACE = 123;

export interface CacheCounts {
  hits: number;
  misses: number;
  invalidations: number;
  resets: number;
}

const LONE_SURROGATE = /\p{Surrogate}/u;

export class LivenessCache {
  readonly stamps: Stamps;
  /** Session id → until when it is alive (ms since the epoch; GONE: not), owned by its user. */
  readonly sessions: TrackedMap<number>;
  /** User id → whether the user is marked disabled. */
  readonly disabled: TrackedMap<boolean>;
  /** Tenant → its generation. */
  readonly generations: TrackedMap<string>;
  readonly counts: CacheCounts = { hits: 0, misses: 0, invalidations: 0, resets: 0 };
  readonly #invalidationListeners: ((keys: readonly string[] | null, atUs: number) => void)[] = [];
  readonly #resetListeners: ((reason: string) => void)[] = [];

  constructor(
    private readonly tracking: KeyTracking,
    private readonly prefix: string,
    capacity: number,
  ) {
    const { epochs } = tracking;
    // Fences wait for a heartbeat PING sent after them: PINGs are numbered in shared memory.
    this.stamps = new Stamps(() => epochs.pingSeq());
    this.sessions = new TrackedMap(this.stamps, capacity, epochs);
    this.disabled = new TrackedMap(this.stamps, Math.max(1, Math.floor(capacity / 4)), epochs);
    this.generations = new TrackedMap(this.stamps, 10_000, epochs);
    tracking.start({
      invalidate: (keys, atUs) => this.#invalidated(keys, atUs),
      reset: (reason) => this.#reset(reason),
      round: (seq) => this.stamps.round(seq),
    });
  }

  onInvalidation(listener: (keys: readonly string[] | null, atUs: number) => void): void {
    this.#invalidationListeners.push(listener);
  }

  onReset(listener: (reason: string) => void): void {
    this.#resetListeners.push(listener);
  }

  /**
   * A tracked read of `key` into `map` (as `id` of `owner`); undefined when the value cannot be
   * trusted (no tracking pair up, a failed read, a read that raced an invalidation or a reset):
   * the caller then reads Redis the ordinary way.
   */
  async read<V>(map: TrackedMap<V>, id: string, owner: string, key: string, read: (reader: Redis) => Promise<V>): Promise<V | undefined> {
    // A key with a lone surrogate comes back from Redis as U+FFFD, so the thread would mark
    // another slot than this one: never cached (the ids in keys are the service's own, so only
    // a bug could make one).
    if (LONE_SURROGATE.test(key)) return undefined;
    // The mark before the lost flag is read (readerFor): the thread sets the flag, then moves the
    // global epoch, so a mark that saw the move comes after a flag that refuses the reader, and a
    // mark from before it no longer holds when the value settles. Either way nothing read on a
    // connection already lost is cached.
    const mark = this.tracking.epochs.mark(key);
    const reader = this.tracking.readerFor(key);
    if (reader === undefined) return undefined;
    try {
      const loaded = await map.load(id, owner, () => read(reader), key, mark);
      return loaded.cached ? loaded.value : undefined;
    } catch (error) {
      this.tracking.readFailed(key, error);
      return undefined;
    }
  }

  #invalidated(keys: readonly string[] | null, atUs: number): void {
    this.counts.invalidations += 1;
    if (keys === null) this.#clear();
    else for (const key of keys) this.#invalidate(key);
    for (const listener of this.#invalidationListeners) listener(keys, atUs);
  }

  #reset(reason: string): void {
    this.counts.resets += 1;
    // The thread moved the global epoch already when it saw the reset; a reset seen here (a
    // reader closed, a read failed, a pair came up) moves it too.
    this.tracking.epochs.reset();
    this.#clear();
    for (const listener of this.#resetListeners) listener(reason);
  }

  #invalidate(key: string): void {
    const { prefix } = this;
    if (!key.startsWith(prefix) || key.charCodeAt(prefix.length) !== OPEN_BRACE) return;
    const close = key.indexOf("}", prefix.length);
    if (close < 0) return;
    const tag = key.slice(prefix.length + 1, close);
    const tail = key.slice(close + 1);
    if (tail.startsWith(SESSION_PART)) this.sessions.invalidate(tail.slice(SESSION_PART.length));
    else if (tail === ":st") this.disabled.invalidate(tag);
    else if (tail === ":g" && tag.startsWith("t:")) this.generations.invalidate(tag.slice(2));
  }

  #clear(): void {
    this.stamps.reset();
    this.sessions.clear();
    this.disabled.clear();
    this.generations.clear();
  }
}
