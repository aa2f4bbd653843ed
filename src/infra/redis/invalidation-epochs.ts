/**
 * The epochs that the invalidation thread (invalidation-thread.ts) publishes to the event loop in
 * shared memory, so that a cached answer is refused as soon as Redis's invalidation reaches the
 * process, not when the event loop gets to its message.
 *
 * Layout of one Int32Array over a SharedArrayBuffer:
 * - GLOBAL: moves on every event after which nothing cached may be trusted (an invalidation
 *   connection lost or stalled, FLUSHALL, a tracking reader reset, the thread itself gone);
 * - PING_SEQ: the sequence number of the last heartbeat PING the thread sent (fences wait for a
 *   round whose PING was sent after them: tracked-map.ts);
 * - TICKS: the thread's heartbeat timer counts here (the event loop's watchdog of the thread);
 * - SLOTS slots from SLOT_BASE on: the slot of a key (its hash modulo SLOTS) moves on each
 *   invalidation of a key that hashes there.
 *
 * A cached value remembers the global epoch and its key's slot epoch read before its Redis read
 * was sent, and is trusted only while both are unchanged: an invalidation of its key (or of
 * another key of the same slot: a spurious miss, never a wrong answer) or a reset that arrived at
 * the thread after the read was sent refuses it. Two Atomics.load per cache hit.
 */

export const GLOBAL = 0;
export const PING_SEQ = 1;
export const TICKS = 2;
export const SLOT_BASE = 4;
/** Slots of key epochs: 2^16 (256 KiB); with a full cache of 100,000 sessions an invalidation refuses 1.5 others on average, which then read Redis once. */
export const SLOTS = 1 << 16;

/**
 * FNV-1a over the key's UTF-16 code units, modulo SLOTS. Also evaluated in the thread (embedded
 * in its source), so it must stay self-contained.
 */
export function keySlotOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) & 0xffff; // SLOTS - 1
}

/** What a read saw before it was sent: the global epoch, its key's slot, and that slot's epoch. */
export interface EpochMark {
  readonly global: number;
  readonly slot: number;
  readonly epoch: number;
}

export class Epochs {
  readonly view: Int32Array;

  constructor(readonly buffer = new SharedArrayBuffer(4 * (SLOT_BASE + SLOTS))) {
    this.view = new Int32Array(buffer);
  }

  /** The epochs a read of `key` must see unchanged for its value to be trusted; taken before the read is sent. */
  mark(key: string): EpochMark {
    const slot = SLOT_BASE + keySlotOf(key);
    // Global first: a reset between the two loads is then seen as a changed global.
    const global = Atomics.load(this.view, GLOBAL);
    return { global, slot, epoch: Atomics.load(this.view, slot) };
  }

  /** Whether nothing happened to `mark`'s key, nor a reset, since the mark was taken. */
  holds(mark: EpochMark): boolean {
    return Atomics.load(this.view, GLOBAL) === mark.global && Atomics.load(this.view, mark.slot) === mark.epoch;
  }

  /** Nothing cached before now may be trusted. */
  reset(): void {
    Atomics.add(this.view, GLOBAL, 1);
  }

  /** `key` changed (the thread does this; the event loop only in tests). */
  invalidate(key: string): void {
    Atomics.add(this.view, SLOT_BASE + keySlotOf(key), 1);
  }

  /** The sequence number of the last heartbeat PING sent. */
  pingSeq(): number {
    return Atomics.load(this.view, PING_SEQ);
  }

  ticks(): number {
    return Atomics.load(this.view, TICKS);
  }
}
