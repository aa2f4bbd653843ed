/**
 * The invalidation connections of client-side caching, on a small worker thread of their own:
 * Redis's invalidations are received there and published at once in shared memory
 * (invalidation-epochs.ts), so a cached answer is refused as soon as the invalidation reaches the
 * process, whatever the event loop is doing (under ValidateToken load flat out, its V8 pauses and
 * its turns spent on batches of calls held an invalidation for up to 20 ms). The event loop still
 * hears every event, as messages, to free its maps and let its fences go; no answer depends on
 * when it does.
 *
 * Why a raw RESP2 reader over node:net rather than ioredis in the thread: the thread's whole
 * RSS was 10 MB with node:net and 19-30 MB with ioredis loaded and connected (Node 26, measured
 * 2026-11-25), and an invalidation connection sends five commands (AUTH, CLIENT ID, CLIENT
 * SETNAME, SUBSCRIBE, PING). The tracking reader stays an ioredis connection on the event loop; the
 * thread connects to the server that reader is connected to (for a Sentinel group, the master it
 * found), with its credentials and TLS settings, and the reader checks the name of the
 * connection its redirect names (tracking-pair.ts).
 *
 * The thread, for each connection: AUTH, CLIENT ID, CLIENT SETNAME (a random name), SUBSCRIBE
 * `__redis__:invalidate`, then a PING every `heartbeatMs`. On an invalidation it moves the keys'
 * slots (or, for a flush, the global epoch), then tells the event loop. On a close, an error, a
 * PING unanswered for `staleAfterMs`, a connection not set up within `connectTimeoutMs` or a
 * message of an unknown shape, it moves the global epoch and sets the connection's lost flag
 * first, then tells the event loop. Its timer also counts ticks, which the event loop's watchdog
 * reads: a thread that stops ticking, exits or fails moves the global epoch too.
 */
import { type TLSSocket, type ConnectionOptions as TlsOptions } from "node:tls";
import type { Socket } from "node:net";
import { Worker } from "node:worker_threads";
import { Epochs, GLOBAL, keySlotOf, PING_SEQ, SLOT_BASE, TICKS } from "./invalidation-epochs.js";

export const INVALIDATION_CHANNEL = "__redis__:invalidate";
const CONNECT_TIMEOUT_MS = 2000;

/** Where the thread connects: the tracking reader's server, credentials and TLS. */
export interface ThreadTarget {
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  readonly tls?: TlsOptions;
  readonly username?: string;
  readonly password?: string;
}

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
  readonly heartbeatMs: number;
  readonly staleAfterMs: number;
  readonly onProblem: (problem: string, error?: unknown) => void;
}

type ToThread =
  | { readonly op: "open"; readonly pair: number; readonly target: ThreadTarget; readonly flag: SharedArrayBuffer }
  | { readonly op: "close"; readonly pair: number };

type FromThread =
  | { readonly op: "ready" }
  | { readonly op: "opened"; readonly pair: number; readonly id: string; readonly name: string }
  | { readonly op: "invalidate"; readonly pair: number; readonly keys: string[] | null; readonly atUs: number }
  | { readonly op: "lost"; readonly pair: number; readonly reason: string; readonly error?: string }
  | { readonly op: "round"; readonly pair: number; readonly seq: number };

interface ThreadData {
  readonly buffer: SharedArrayBuffer;
  readonly heartbeatMs: number;
  readonly staleAfterMs: number;
  readonly connectTimeoutMs: number;
  readonly layout: { readonly GLOBAL: number; readonly PING_SEQ: number; readonly TICKS: number; readonly SLOT_BASE: number };
}

interface ThreadEnv {
  readonly parentPort: { postMessage(message: FromThread): void; on(event: "message", listener: (message: ToThread) => void): void };
  readonly workerData: ThreadData;
  readonly net: typeof import("node:net");
  readonly tls: typeof import("node:tls");
  readonly randomHex: () => string;
  readonly keySlotOf: (key: string) => number;
}

type Reply = string | number | Buffer | null | { readonly error: string } | Reply[];

/**
 * The thread's program. Evaluated from its source text (see SOURCE below), so it refers to
 * nothing outside itself but `env`.
 */
function invalidationThread(env: ThreadEnv): void {
  const { parentPort, workerData, net, tls } = env;
  const { heartbeatMs, staleAfterMs, connectTimeoutMs, layout } = workerData;
  const view = new Int32Array(workerData.buffer);
  const CHANNEL = "__redis__:invalidate";
  const now = () => performance.timeOrigin + performance.now();

  interface Connection {
    readonly pair: number;
    readonly socket: Socket | TLSSocket;
    readonly flag: Int32Array;
    readonly openedAt: number;
    readonly name: string;
    state: "opening" | "up" | "gone";
    input: Buffer;
    /** Handlers of the replies to the set-up commands, in order. */
    readonly setup: ((reply: Reply) => void)[];
    id: string;
    ping: { readonly sentAt: number; readonly seq: number } | undefined;
  }
  const connections = new Map<number, Connection>();

  const command = (...args: string[]) => {
    let out = `*${args.length}\r\n`;
    for (const arg of args) out += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    return out;
  };

  /** One RESP2 reply from `at`, or undefined when it is not complete yet. */
  const parse = (buf: Buffer, at: number): { value: Reply; next: number } | undefined => {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) return undefined;
    const line = buf.toString("latin1", at + 1, eol);
    switch (buf[at]) {
      case 43: // +
        return { value: line, next: eol + 2 };
      case 45: // -
        return { value: { error: line }, next: eol + 2 };
      case 58: // :
        return { value: Number(line), next: eol + 2 };
      case 36: {
        // $
        const length = Number(line);
        if (length < 0) return { value: null, next: eol + 2 };
        const end = eol + 2 + length;
        return buf.length < end + 2 ? undefined : { value: buf.subarray(eol + 2, end), next: end + 2 };
      }
      case 42: {
        // *
        const count = Number(line);
        if (count < 0) return { value: null, next: eol + 2 };
        const items: Reply[] = [];
        let next = eol + 2;
        for (let i = 0; i < count; i++) {
          const item = parse(buf, next);
          if (item === undefined) return undefined;
          items.push(item.value);
          next = item.next;
        }
        return { value: items, next };
      }
      default:
        throw new Error("a reply that is not RESP2");
    }
  };

  const text = (reply: Reply) => (Buffer.isBuffer(reply) ? reply.toString() : typeof reply === "string" ? reply : undefined);
  const isError = (reply: Reply): reply is { error: string } => reply !== null && typeof reply === "object" && "error" in reply;

  const lose = (connection: Connection, reason: string, error?: string) => {
    if (connection.state === "gone") return;
    // Shared memory first: from here on nothing cached is trusted, before the event loop hears of it.
    Atomics.add(view, layout.GLOBAL, 1);
    Atomics.store(connection.flag, 0, 1);
    connection.state = "gone";
    connection.socket.destroy();
    connections.delete(connection.pair);
    parentPort.postMessage({ op: "lost", pair: connection.pair, reason, ...(error === undefined ? {} : { error }) });
  };

  const invalidated = (connection: Connection, keys: Reply) => {
    if (keys === null) {
      Atomics.add(view, layout.GLOBAL, 1);
      parentPort.postMessage({ op: "invalidate", pair: connection.pair, keys: null, atUs: Math.round(now() * 1000) });
      return;
    }
    if (!Array.isArray(keys)) return lose(connection, "an invalidation message of an unknown shape");
    const names: string[] = [];
    for (const key of keys) {
      const name = text(key);
      if (name === undefined) return lose(connection, "an invalidation message of an unknown shape");
      Atomics.add(view, layout.SLOT_BASE + env.keySlotOf(name), 1);
      names.push(name);
    }
    parentPort.postMessage({ op: "invalidate", pair: connection.pair, keys: names, atUs: Math.round(now() * 1000) });
  };

  const received = (connection: Connection, reply: Reply) => {
    if (connection.state === "opening") {
      const handler = connection.setup.shift();
      if (handler === undefined) return lose(connection, "an unexpected reply while setting up");
      if (isError(reply)) return lose(connection, "could not set up client-side caching", reply.error);
      return handler(reply);
    }
    const kind = Array.isArray(reply) ? text(reply[0] ?? null) : undefined;
    if (Array.isArray(reply) && kind === "message" && text(reply[1] ?? null) === CHANNEL) return invalidated(connection, reply[2] ?? null);
    if (kind === "pong" && connection.ping !== undefined) {
      const { seq } = connection.ping;
      connection.ping = undefined;
      parentPort.postMessage({ op: "round", pair: connection.pair, seq });
      return;
    }
    lose(connection, "an invalidation message of an unknown shape");
  };

  const open = (pair: number, target: ThreadTarget, flag: SharedArrayBuffer) => {
    const socket =
      target.tls !== undefined
        ? tls.connect({ ...target.tls, ...(target.path === undefined ? { host: target.host, port: target.port } : { path: target.path }) })
        : target.path !== undefined
          ? net.connect({ path: target.path })
          : net.connect({ host: target.host, port: target.port ?? 6379 });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const connection: Connection = {
      pair,
      socket,
      flag: new Int32Array(flag),
      openedAt: now(),
      name: `authward-invalidations-${env.randomHex()}`,
      state: "opening",
      input: Buffer.alloc(0),
      setup: [],
      id: "",
      ping: undefined,
    };
    connections.set(pair, connection);
    const ok = () => {};
    let out = "";
    if (target.password !== undefined) {
      out += target.username === undefined ? command("AUTH", target.password) : command("AUTH", target.username, target.password);
      connection.setup.push(ok);
    }
    out += command("CLIENT", "ID") + command("CLIENT", "SETNAME", connection.name) + command("SUBSCRIBE", CHANNEL);
    connection.setup.push(
      (reply) => {
        connection.id = String(reply);
      },
      ok,
      (reply) => {
        if (!Array.isArray(reply) || text(reply[0] ?? null) !== "subscribe") return lose(connection, "could not subscribe to invalidations");
        connection.state = "up";
        parentPort.postMessage({ op: "opened", pair, id: connection.id, name: connection.name });
      },
    );
    socket.write(out);
    socket.on("data", (chunk: Buffer) => {
      connection.input = connection.input.length === 0 ? chunk : Buffer.concat([connection.input, chunk]);
      let at = 0;
      try {
        for (;;) {
          if (connection.state === "gone") return;
          const reply = parse(connection.input, at);
          if (reply === undefined) break;
          at = reply.next;
          received(connection, reply.value);
        }
      } catch (error) {
        return lose(connection, "an invalidation message of an unknown shape", String(error));
      }
      connection.input = at >= connection.input.length ? Buffer.alloc(0) : connection.input.subarray(at);
    });
    socket.on("error", (error: Error) => lose(connection, "the invalidation connection failed", error.message));
    socket.on("close", () => lose(connection, "the invalidation connection closed"));
  };

  parentPort.on("message", (message: ToThread) => {
    if (message.op === "open") open(message.pair, message.target, message.flag);
    else {
      const connection = connections.get(message.pair);
      if (connection === undefined) return;
      connection.state = "gone";
      connections.delete(message.pair);
      connection.socket.destroy();
    }
  });

  // A thread that fails leaves nothing cached trusted, before it goes (the event loop hears of
  // its exit later, and starts another).
  process.on("uncaughtException", () => {
    Atomics.add(view, layout.GLOBAL, 1);
    for (const connection of connections.values()) Atomics.store(connection.flag, 0, 1);
    process.exit(1);
  });

  setInterval(() => {
    Atomics.add(view, layout.TICKS, 1);
    const at = now();
    for (const connection of connections.values()) {
      if (connection.state === "opening") {
        if (at - connection.openedAt > connectTimeoutMs) lose(connection, "could not set up client-side caching: timed out");
      } else if (connection.ping !== undefined) {
        if (at - connection.ping.sentAt > staleAfterMs) lose(connection, "the invalidation connection stopped answering");
      } else {
        const seq = Atomics.add(view, layout.PING_SEQ, 1) + 1;
        connection.ping = { sentAt: at, seq };
        connection.socket.write(command("PING"));
      }
    }
  }, heartbeatMs);
  parentPort.postMessage({ op: "ready" });
}

// CommonJS, evaluated in the worker: no file to find at run time, under tsx, vitest or dist alike.
// (`__name`: tsx's transform names functions with it.)
const SOURCE = `"use strict";
const __name = (f) => f;
const { parentPort, workerData } = require("node:worker_threads");
const keySlotOf = ${keySlotOf.toString()};
const randomHex = () => require("node:crypto").randomBytes(8).toString("hex");
(${invalidationThread.toString()})({ parentPort, workerData, net: require("node:net"), tls: require("node:tls"), randomHex, keySlotOf });
`;

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
    this.#pairs.clear();
    void worker?.terminate();
  }

  #start(): Worker {
    const data: ThreadData = {
      buffer: this.epochs.buffer,
      heartbeatMs: this.timing.heartbeatMs,
      staleAfterMs: this.timing.staleAfterMs,
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      layout: { GLOBAL, PING_SEQ, TICKS, SLOT_BASE },
    };
    // env {}: the thread needs none of the process's variables (some hold secrets).
    const worker = new Worker(SOURCE, {
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
    if (message.op === "ready") {
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
        if (entry.opening !== undefined) entry.opening.reject(new Error(`${message.reason}${message.error === undefined ? "" : `: ${message.error}`}`));
        else entry.events.lost(message.reason, message.error);
      }
    }
  }

  /** The thread stopped ticking for staleAfterMs: it is replaced. */
  #watch(worker: Worker): void {
    if (worker !== this.#worker || !this.#ready) return;
    const ticks = this.epochs.ticks();
    const at = performance.now();
    if (ticks !== this.#ticks) {
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
