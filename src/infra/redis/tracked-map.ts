/**
 * A bounded map of values read from Redis through a tracking reader (key-tracking.ts), kept until
 * Redis says the key changed, with the two races of client-side caching closed:
 *
 * - A read whose reply arrives after an invalidation of its key (the reply and the invalidation
 *   travel on different connections, so either may come first): the read is marked pending before
 *   it is sent, an invalidation of the key marks it invalidated, and an invalidated read is never
 *   stored; its caller must read again, elsewhere (`load` answers `cached: false`).
 * - A read that began before a reset (a dropped connection: invalidations may have been lost) and
 *   settles after it: each read carries the generation it began in, and a reset starts a new one.
 *
 * Both are first decided in shared memory, by the invalidation thread (invalidation-epochs.ts): a
 * read carries the epochs of its key and the global epoch taken before it was sent, and a value
 * is kept and answered only while both are unchanged. So an invalidation or a reset is honoured
 * from the moment it reaches the thread, even while the event loop has not yet run its message;
 * the map's own bookkeeping below (`invalidate`, `clear`, the tickets) then frees the memory and
 * also covers maps without epochs (unit tests).
 *
 * Fences are this process's own changes: after it ended a user's sessions, every entry of that
 * user read before is stale here at once, before any invalidation arrives (read-your-writes on the
 * instance that made the change). A fence lasts until a heartbeat round proves the invalidations
 * of that change have arrived (`Stamps.round`): a round of a PING sent after the fence was made.
 */
import type { EpochMark, Epochs } from "./invalidation-epochs.js";

/** Counters shared by the maps of one cache: the reset generation, read stamps, and fences. */
export class Stamps {
  generation = 0;
  #counter = 0;
  /** owner → the stamp of this process's latest change to it, and when it was made (`now`). */
  readonly fences = new Map<string, { readonly stamp: number; readonly at: number }>();

  /** `now`: the clock of fences and rounds (the number of the last heartbeat PING sent, with the invalidation thread). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  next(): number {
    this.#counter += 1;
    return this.#counter;
  }

  /** This process changed `owner`: whatever it read of it before is stale. */
  fence(owner: string): void {
    this.fences.set(owner, { stamp: this.next(), at: this.now() });
  }

  /** Whether a read of `owner` stamped `stamp` predates a fence. */
  fenced(owner: string, stamp: number): boolean {
    if (this.fences.size === 0) return false;
    const fence = this.fences.get(owner);
    return fence !== undefined && fence.stamp > stamp;
  }

  /** Every change made before `sentAt` (on the `now` clock) has been announced: its fence may go. */
  round(sentAt: number): void {
    for (const [owner, fence] of this.fences) if (fence.at < sentAt) this.fences.delete(owner);
  }

  reset(): void {
    this.generation += 1;
    this.fences.clear();
  }
}

interface Entry<V> {
  readonly value: V;
  readonly owner: string;
  readonly stamp: number;
  readonly mark: EpochMark | undefined;
}

interface Ticket {
  readonly stamp: number;
  readonly generation: number;
  readonly mark: EpochMark | undefined;
  invalidated: boolean;
}

export interface Loaded<V> {
  readonly value: V;
  /** False when the read raced an invalidation or a reset: the value must not be trusted for now. */
  readonly cached: boolean;
}

export class TrackedMap<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #pending = new Map<string, { ticket: Ticket; owner: string; promise: Promise<Loaded<V>> }>();

  /** `epochs`: the invalidation thread's (a value read with a mark is trusted only while it holds). */
  constructor(
    private readonly stamps: Stamps,
    private readonly capacity: number,
    private readonly epochs?: Epochs,
  ) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The value kept for `id`, if it belongs to `owner` and no fence of the owner is newer. */
  get(id: string, owner: string): V | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.owner !== owner) return undefined;
    if ((entry.mark !== undefined && !this.epochs?.holds(entry.mark)) || this.stamps.fenced(owner, entry.stamp)) {
      this.#entries.delete(id);
      return undefined;
    }
    return entry.value;
  }

  /**
   * Reads `id` with `read` (a tracked read) and keeps the value unless the read raced an
   * invalidation, a reset or a fence. Concurrent loads of one id share one read. `key`: the Redis
   * key read, whose epochs are marked now, before the read is sent.
   */
  load(id: string, owner: string, read: () => Promise<V>, key?: string, taken?: EpochMark): Promise<Loaded<V>> {
    const inFlight = this.#pending.get(id);
    if (inFlight !== undefined && inFlight.owner === owner) return inFlight.promise;
    const mark = taken ?? (key === undefined ? undefined : this.epochs?.mark(key));
    const ticket: Ticket = { stamp: this.stamps.next(), generation: this.stamps.generation, mark, invalidated: false };
    const promise = read().then(
      (value) => ({ value, cached: this.#settle(id, owner, ticket, value) }),
      (error: unknown) => {
        this.#forget(id, ticket);
        throw error;
      },
    );
    // A second owner of one id (never, for random ids) just reads without sharing.
    if (inFlight === undefined) this.#pending.set(id, { ticket, owner, promise });
    return promise;
  }

  /** Redis said `id`'s key changed. */
  invalidate(id: string): void {
    this.#entries.delete(id);
    const inFlight = this.#pending.get(id);
    if (inFlight !== undefined) inFlight.ticket.invalidated = true;
  }

  /** Forgets everything (a reset; the generation moved on, so reads in flight are not stored). */
  clear(): void {
    this.#entries.clear();
    for (const { ticket } of this.#pending.values()) ticket.invalidated = true;
    this.#pending.clear();
  }

  #forget(id: string, ticket: Ticket): void {
    if (this.#pending.get(id)?.ticket === ticket) this.#pending.delete(id);
  }

  #settle(id: string, owner: string, ticket: Ticket, value: V): boolean {
    this.#forget(id, ticket);
    if (ticket.invalidated || ticket.generation !== this.stamps.generation || this.stamps.fenced(owner, ticket.stamp)) return false;
    if (ticket.mark !== undefined && !this.epochs?.holds(ticket.mark)) return false;
    if (this.capacity <= 0) return false;
    if (!this.#entries.has(id) && this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(id, { value, owner, stamp: ticket.stamp, mark: ticket.mark });
    return true;
  }
}
