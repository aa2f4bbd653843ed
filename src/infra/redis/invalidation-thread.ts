/**
 * The invalidation connections of client-side caching, on a small worker thread of their own:
 * Redis's invalidations are received there and published at once in shared memory
 * (invalidation-epochs.ts), so a cached answer is refused as soon as the invalidation reaches the
 * process, whatever the event loop is doing (under ValidateToken load flat out, its V8 pauses and
 * its turns spent on batches of calls held an invalidation for up to 20 ms). The event loop still
 * hears every event, as messages, to free its maps and let its fences go; no answer depends on
 * when it does.
 *
 * Why a raw RESP2 reader over node:net rather than ioredis in the thread: measured the same way on
 * Node 26 (2026-11-25), a worker holding one subscribed connection added 10.7 MB of RSS with
 * node:net and 36 MB with ioredis loaded and connected, and an invalidation connection sends
 * five commands (AUTH, CLIENT ID, CLIENT SETNAME, SUBSCRIBE, PING). The thread as built (a 2 MB
 * young generation) adds 5.5-5.8 MB to a process, its epochs included. The tracking reader stays
 * an ioredis connection on the event loop; the thread connects to the server that reader is
 * connected to (for a Sentinel group, the master it found), with its credentials and TLS
 * settings, and the reader checks the name of the connection its redirect names
 * (tracking-pair.ts). Its program: invalidation-program.ts.
 *
 * The thread, for each connection: AUTH, CLIENT ID, CLIENT SETNAME (a random name), SUBSCRIBE
 * `__redis__:invalidate`, then a PING every `heartbeatMs`. On an invalidation it moves the keys'
 * slots (or, for a flush, the global epoch), then tells the event loop. On a close, an error, a
 * PING unanswered for `staleAfterMs`, a connection not set up within `connectTimeoutMs` or a
 * message of an unknown shape, it moves the global epoch and sets the connection's lost flag
 * first, then tells the event loop. A thread that fails (an uncaught exception) moves the global
 * epoch and flags every connection lost, then posts what failed (for the log) before it exits. Its
 * timer also counts ticks: a thread that stops ticking for `staleAfterMs`, never gets ready, or
 * exits, is found by the event loop (its watchdog, the
 * worker's exit event), which moves the global epoch, resets the pairs and starts another thread
 * (an answer given between such a silent stop and the watchdog is the one window left, as wide
 * as the heartbeat's for a silent partition).
 */

import { Worker } from "node:worker_threads";
import { Epochs, GLOBAL, PING_SEQ, SLOT_BASE, TICKS } from "./invalidation-epochs.js";
import { type FromThread, programSource, type ThreadData, type ThreadTarget, type ToThread } from "./invalidation-program.js";

export type { ThreadTarget } from "./invalidation-program.js";
export const INVALIDATION_CHANNEL = "__redis__:invalidate";
const CONNECT_TIMEOUT_MS = 2000;
/** The thread's nice value where the process may raise it (invalidation-program.ts says why). */
const THREAD_NICENESS = -10;

export interface InvalidationEvents {
  /** Keys Redis announced changed (null: every key), and when the thread received them (µs since the epoch). */
  invalidate(keys: readonly string[] | null, atUs: number): void;
  /** The connection is gone (the thread has moved the global epoch already). */
  lost(reason: string, error?: string): void;
  /** A heartbeat answer: every change made before PING number `seq` was sent has been announced. */
  round(seq: number): void;
}

/** An invalidation connection set up by the thread. */
export interface InvalidationConnection {
  /** Its CLIENT ID, for the reader's CLIENT TRACKING … REDIRECT. */
  readonly id: string;
  /** Its CLIENT SETNAME. */
  readonly name: string;
  /** Whether the thread has found it lost (read from shared memory: true before the event loop hears why). */
  lost(): boolean;
  close(): void;
}

export interface ThreadTiming {
  /** Heartbeat period on each invalidation connection (sent by the thread). */
  readonly heartbeatMs: number;
  /** A heartbeat unanswered this long resets the pair. */
  readonly staleAfterMs: number;
  readonly onProblem: (problem: string, error?: unknown) => void;
  /**
   * Told once, when the first thread is ready, that it could not raise its priority (`wanted`):
   * the process lacks root, CAP_SYS_NICE or RLIMIT_NICE ≥ 20 − wanted.
   */
  readonly onDefaultPriority?: (wanted: number) => void;
  /** The nice value the thread asks for: -10 unless a test asks otherwise. */
  readonly niceness?: number;
  /** The thread's program as source text: invalidation-program.ts's unless a test gives a broken one. */
  readonly program?: () => string;
}

interface PairEntry {
  readonly events: InvalidationEvents;
  readonly flag: Int32Array;
  opening: { resolve: (connection: InvalidationConnection) => void; reject: (error: Error) => void } | undefined;
}

/**
 * The event loop's side of the thread: starts it on the first connection, routes its messages
 * to each connection's events, and watches it (a thread that exits, fails or stops ticking for
 * `staleAfterMs` loses every connection, after the global epoch moved).
 */
export class InvalidationThread {
  readonly epochs = new Epochs();
  #worker: Worker | undefined;
  #ready = false;
  #priorityReported = false;
  #next = 1;
  readonly #pairs = new Map<number, PairEntry>();
  #watchdog: NodeJS.Timeout | undefined;
  #ticks = -1;
  #ticksSeenAt = 0;
  #closed = false;

  constructor(private readonly timing: ThreadTiming) {}

  /** Sets up an invalidation connection to `target`; its events go to `events` until it is closed or lost. */
  open(target: ThreadTarget, events: InvalidationEvents): Promise<InvalidationConnection> {
    if (this.#closed) return Promise.reject(new Error("the invalidation thread is closed"));
    const worker = this.#worker ?? this.#start();
    const pair = this.#next++;
    const flag = new SharedArrayBuffer(4);
    return new Promise((resolve, reject) => {
      this.#pairs.set(pair, { events, flag: new Int32Array(flag), opening: { resolve, reject } });
      worker.postMessage({ op: "open", pair, target, flag } satisfies ToThread);
    });
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#watchdog);
    const worker = this.#worker;
    this.#worker = undefined;
    for (const entry of this.#pairs.values()) entry.opening?.reject(new Error("the invalidation thread is closed"));
    this.#pairs.clear();
    void worker?.terminate();
  }

  #start(): Worker {
    const data: ThreadData = {
      buffer: this.epochs.buffer,
      heartbeatMs: this.timing.heartbeatMs,
      staleAfterMs: this.timing.staleAfterMs,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      niceness: this.timing.niceness ?? THREAD_NICENESS,
      layout: { GLOBAL, PING_SEQ, TICKS, SLOT_BASE },
    };
    // env {}: the thread needs none of the process's variables (some hold secrets).
    const worker = new Worker((this.timing.program ?? programSource)(), {
      eval: true,
      workerData: data,
      env: {},
      // A small young generation (the thread keeps little); no cap on the old one, whose overflow
      // would end the thread without a word in shared memory.
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
    worker.unref();
    this.#worker = worker;
    this.#ready = false;
    this.#ticksSeenAt = performance.now();
    worker.on("message", (message: FromThread) => this.#received(worker, message));
    worker.on("error", (error) => this.#died(worker, "the invalidation thread failed", error));
    worker.on("exit", (code) => this.#died(worker, `the invalidation thread exited (${code})`));
    clearInterval(this.#watchdog);
    this.#watchdog = setInterval(() => this.#watch(worker), this.timing.heartbeatMs);
    this.#watchdog.unref();
    return worker;
  }

  #received(worker: Worker, message: FromThread): void {
    if (worker !== this.#worker) return;
    if (message.op === "failed") {
      this.#died(worker, "the invalidation thread failed", message.error);
      return;
    }
    if (message.op === "ready") {
      const wanted = this.timing.niceness ?? THREAD_NICENESS;
      if (message.niceness !== wanted && !this.#priorityReported) this.timing.onDefaultPriority?.(wanted);
      this.#priorityReported = true;
      this.#ready = true;
      this.#ticks = this.epochs.ticks();
      this.#ticksSeenAt = performance.now();
      return;
    }
    const entry = this.#pairs.get(message.pair);
    if (entry === undefined) return;
    switch (message.op) {
      case "opened": {
        const { pair } = message;
        const opening = entry.opening;
        entry.opening = undefined;
        opening?.resolve({
          id: message.id,
          name: message.name,
          lost: () => Atomics.load(entry.flag, 0) !== 0,
          close: () => {
            if (this.#pairs.delete(pair)) this.#worker?.postMessage({ op: "close", pair } satisfies ToThread);
          },
        });
        return;
      }
      case "invalidate":
        entry.events.invalidate(message.keys, message.atUs);
        return;
      case "round":
        entry.events.round(message.seq);
        return;
      case "lost": {
        this.#pairs.delete(message.pair);
        if (entry.opening !== undefined)
          entry.opening.reject(new Error(`${message.reason}${message.error === undefined ? "" : `: ${message.error}`}`));
        else entry.events.lost(message.reason, message.error);
      }
    }
  }

  /** The thread stopped ticking, or never got ready, for staleAfterMs: it is replaced. */
  #watch(worker: Worker): void {
    if (worker !== this.#worker) return;
    const ticks = this.epochs.ticks();
    const at = performance.now();
    if (!this.#ready) {
      // Nothing is cached while no connection is up (reads go to Redis), but the pairs would wait
      // forever: a thread that does not start within the same allowance is replaced, with a word.
      if (at - this.#ticksSeenAt > this.timing.staleAfterMs + this.timing.heartbeatMs + CONNECT_TIMEOUT_MS) {
        this.#died(worker, "the invalidation thread did not start");
        void worker.terminate();
      }
    } else if (ticks !== this.#ticks) {
      this.#ticks = ticks;
      this.#ticksSeenAt = at;
    } else if (at - this.#ticksSeenAt > this.timing.staleAfterMs + this.timing.heartbeatMs) {
      this.#died(worker, "the invalidation thread stopped ticking");
      void worker.terminate();
    }
  }

  #died(worker: Worker, reason: string, error?: unknown): void {
    if (worker !== this.#worker) return;
    this.epochs.reset();
    this.#worker = undefined;
    clearInterval(this.#watchdog);
    if (!this.#closed) this.timing.onProblem(reason, error);
    const pairs = [...this.#pairs.values()];
    this.#pairs.clear();
    for (const entry of pairs) {
      Atomics.store(entry.flag, 0, 1);
      if (entry.opening !== undefined) entry.opening.reject(new Error(reason));
      else entry.events.lost(reason);
    }
  }
}
