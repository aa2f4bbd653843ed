/**
 * The invalidation thread's program (invalidation-thread.ts says what it is for): its
 * connections, what it publishes in shared memory (invalidation-epochs.ts) and what it tells the
 * event loop. Evaluated from source text in the worker (`programSource`), so the class refers to
 * nothing outside itself but its `env` (which brings the self-contained functions embedded
 * beside it) and the CHANNEL constant.
 */
import type { Socket } from "node:net";
import type { TLSSocket, ConnectionOptions as TlsOptions } from "node:tls";
import { keySlotOf } from "./invalidation-epochs.js";
import { encodeCommand, parseReply, type Reply } from "./resp2.js";

/** Where the thread connects: the tracking reader's server, credentials and TLS. */
export interface ThreadTarget {
  readonly host?: string;
  readonly port?: number;
  readonly path?: string;
  readonly tls?: TlsOptions;
  readonly username?: string;
  readonly password?: string;
}

export type ToThread =
  | { readonly op: "open"; readonly pair: number; readonly target: ThreadTarget; readonly flag: SharedArrayBuffer }
  | { readonly op: "close"; readonly pair: number };

export type FromThread =
  | { readonly op: "ready"; readonly niceness: number }
  | { readonly op: "failed"; readonly error: string }
  | { readonly op: "opened"; readonly pair: number; readonly id: string; readonly name: string }
  | { readonly op: "invalidate"; readonly pair: number; readonly keys: string[] | null; readonly atUs: number }
  | { readonly op: "lost"; readonly pair: number; readonly reason: string; readonly error?: string }
  | { readonly op: "round"; readonly pair: number; readonly seq: number };

export interface ThreadData {
  readonly buffer: SharedArrayBuffer;
  readonly heartbeatMs: number;
  readonly staleAfterMs: number;
  readonly connectTimeoutMs: number;
  /** The thread's nice value, if the process may raise it. */
  readonly niceness: number;
  readonly layout: { readonly GLOBAL: number; readonly PING_SEQ: number; readonly TICKS: number; readonly SLOT_BASE: number };
}

interface ProgramEnv {
  readonly parentPort: { postMessage(message: FromThread): void; on(event: "message", listener: (message: ToThread) => void): void };
  readonly workerData: ThreadData;
  readonly net: typeof import("node:net");
  readonly tls: typeof import("node:tls");
  readonly os: typeof import("node:os");
  readonly randomHex: () => string;
  // The embedded functions come in `env` too: a test runner may rewrite references to imports.
  readonly keySlotOf: typeof keySlotOf;
  readonly encodeCommand: typeof encodeCommand;
  readonly parseReply: typeof parseReply;
}

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

const CHANNEL = "__redis__:invalidate";

export class InvalidationProgram {
  readonly #view: Int32Array;
  readonly #connections = new Map<number, Connection>();

  constructor(private readonly env: ProgramEnv) {
    this.#view = new Int32Array(env.workerData.buffer);
  }

  run(): void {
    const { parentPort, workerData } = this.env;
    // Ahead of the event loops when the network wakes it: on two busy cores, a thread of the
    // default priority waited up to 7-9 ms (p99) for one; at -10, 0.7 ms (BENCHMARKS.md). Linux
    // keeps the nice value per thread, so only this one is raised; raising it needs root,
    // CAP_SYS_NICE or RLIMIT_NICE ≥ 30, and without them the thread runs at the default priority.
    // It works a few microseconds per invalidation and per heartbeat, so it can starve nothing.
    let niceness = 0;
    try {
      this.env.os.setPriority(workerData.niceness);
      niceness = workerData.niceness;
    } catch {
      // Not permitted here: the default priority (the main thread reports it once).
    }
    parentPort.on("message", (message) => {
      if (message.op === "open") this.#open(message.pair, message.target, message.flag);
      else this.#close(message.pair);
    });
    // A thread that fails leaves nothing cached trusted, before it goes (the event loop hears of
    // its exit later, and starts another).
    process.on("uncaughtException", (error: unknown) => {
      for (const connection of this.#connections.values()) Atomics.store(connection.flag, 0, 1);
      Atomics.add(this.#view, workerData.layout.GLOBAL, 1);
      // What failed, for the log (the exit code alone says nothing): the error's name and message
      // only, cut short; no stack, no values the thread holds (a password is one).
      const text = error instanceof Error ? `${error.name}: ${error.message}` : "a value thrown that is not an Error";
      parentPort.postMessage({ op: "failed", error: text.slice(0, 300) });
      process.exit(1);
    });
    setInterval(() => this.#tick(), workerData.heartbeatMs);
    parentPort.postMessage({ op: "ready", niceness });
  }

  #now(): number {
    return performance.timeOrigin + performance.now();
  }

  #open(pair: number, target: ThreadTarget, flag: SharedArrayBuffer): void {
    const { net, tls } = this.env;
    const at = target.path === undefined ? { host: target.host, port: target.port ?? 6379 } : { path: target.path };
    const socket = target.tls !== undefined ? tls.connect({ ...target.tls, ...at }) : net.connect(at);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    const connection: Connection = {
      pair,
      socket,
      flag: new Int32Array(flag),
      openedAt: this.#now(),
      name: `authward-invalidations-${this.env.randomHex()}`,
      state: "opening",
      input: Buffer.alloc(0),
      setup: [],
      id: "",
      ping: undefined,
    };
    this.#connections.set(pair, connection);
    const ok = () => {};
    let out = "";
    if (target.password !== undefined) {
      const auth = target.username === undefined ? [target.password] : [target.username, target.password];
      out += this.env.encodeCommand("AUTH", ...auth);
      connection.setup.push(this.#authAnswered);
    }
    out +=
      this.env.encodeCommand("CLIENT", "ID") +
      this.env.encodeCommand("CLIENT", "SETNAME", connection.name) +
      this.env.encodeCommand("SUBSCRIBE", CHANNEL);
    connection.setup.push(
      (reply) => {
        connection.id = String(reply);
      },
      ok,
      (reply) => this.#subscribed(connection, reply),
    );
    socket.write(out);
    socket.on("data", (chunk: Buffer) => this.#data(connection, chunk));
    socket.on("error", (error: Error) => this.#lose(connection, "the invalidation connection failed", error.message));
    socket.on("close", () => this.#lose(connection, "the invalidation connection closed"));
  }

  #subscribed(connection: Connection, reply: Reply): void {
    if (!Array.isArray(reply) || this.#text(reply[0] ?? null) !== "subscribe") {
      this.#lose(connection, "could not subscribe to invalidations");
      return;
    }
    connection.state = "up";
    this.env.parentPort.postMessage({ op: "opened", pair: connection.pair, id: connection.id, name: connection.name });
  }

  #close(pair: number): void {
    const connection = this.#connections.get(pair);
    if (connection === undefined) return;
    connection.state = "gone";
    this.#connections.delete(pair);
    connection.socket.destroy();
  }

  #data(connection: Connection, chunk: Buffer): void {
    connection.input = connection.input.length === 0 ? chunk : Buffer.concat([connection.input, chunk]);
    let at = 0;
    try {
      for (;;) {
        if (connection.state === "gone") return;
        const reply = this.env.parseReply(connection.input, at);
        if (reply === undefined) break;
        at = reply.next;
        this.#received(connection, reply.value);
      }
    } catch (error) {
      this.#lose(connection, "an invalidation message of an unknown shape", String(error));
      return;
    }
    connection.input = at >= connection.input.length ? Buffer.alloc(0) : connection.input.subarray(at);
  }

  /** The AUTH reply's handler: AUTH is the one set-up command whose error may be harmless. */
  readonly #authAnswered = (_reply: Reply): void => {};

  /**
   * A password given to a server that has none (`-ERR AUTH <password> called without any password
   * configured…`; "no password is set" before Redis 6): the connection works, as with ioredis,
   * which only warns (the tracking reader, an ioredis client, warns already).
   */
  #passwordNotNeeded(handler: (reply: Reply) => void, error: string): boolean {
    return handler === this.#authAnswered && /without any password configured|no password is set/i.test(error);
  }

  #text(reply: Reply): string | undefined {
    return Buffer.isBuffer(reply) ? reply.toString() : typeof reply === "string" ? reply : undefined;
  }

  #received(connection: Connection, reply: Reply): void {
    if (connection.state === "opening") {
      const handler = connection.setup.shift();
      if (handler === undefined) this.#lose(connection, "an unexpected reply while setting up");
      else if (reply !== null && typeof reply === "object" && "error" in reply && !this.#passwordNotNeeded(handler, reply.error)) {
        this.#lose(connection, "could not set up client-side caching", reply.error);
      } else handler(reply);
      return;
    }
    const kind = Array.isArray(reply) ? this.#text(reply[0] ?? null) : undefined;
    if (Array.isArray(reply) && kind === "message" && this.#text(reply[1] ?? null) === CHANNEL) {
      this.#invalidated(connection, reply[2] ?? null);
    } else if (kind === "pong" && connection.ping !== undefined) {
      const { seq } = connection.ping;
      connection.ping = undefined;
      this.env.parentPort.postMessage({ op: "round", pair: connection.pair, seq });
    } else this.#lose(connection, "an invalidation message of an unknown shape");
  }

  /** Shared memory first (from here on the keys' cached values are refused), then the event loop. */
  #invalidated(connection: Connection, keys: Reply): void {
    const { layout } = this.env.workerData;
    if (keys === null) {
      Atomics.add(this.#view, layout.GLOBAL, 1);
      this.env.parentPort.postMessage({ op: "invalidate", pair: connection.pair, keys: null, atUs: Math.round(this.#now() * 1000) });
      return;
    }
    const names: string[] = [];
    for (const key of Array.isArray(keys) ? keys : [keys]) {
      const name = Array.isArray(keys) ? this.#text(key) : undefined;
      if (name === undefined) {
        this.#lose(connection, "an invalidation message of an unknown shape");
        return;
      }
      Atomics.add(this.#view, layout.SLOT_BASE + this.env.keySlotOf(name), 1);
      names.push(name);
    }
    this.env.parentPort.postMessage({ op: "invalidate", pair: connection.pair, keys: names, atUs: Math.round(this.#now() * 1000) });
  }

  /** Shared memory first (nothing cached is trusted from here on, and this connection's reader is not handed out), then the event loop. */
  #lose(connection: Connection, reason: string, error?: string): void {
    if (connection.state === "gone") return;
    // The flag first, then the global epoch: the event loop takes its mark before it reads the
    // flag (liveness-cache.ts), so the opposite order could let a read out after the loss.
    Atomics.store(connection.flag, 0, 1);
    Atomics.add(this.#view, this.env.workerData.layout.GLOBAL, 1);
    connection.state = "gone";
    connection.socket.destroy();
    this.#connections.delete(connection.pair);
    this.env.parentPort.postMessage({ op: "lost", pair: connection.pair, reason, ...(error === undefined ? {} : { error }) });
  }

  /** The heartbeat of every connection, and the tick the event loop's watchdog counts. */
  #tick(): void {
    const { layout, connectTimeoutMs, staleAfterMs } = this.env.workerData;
    Atomics.add(this.#view, layout.TICKS, 1);
    const at = this.#now();
    for (const connection of this.#connections.values()) {
      if (connection.state === "opening") {
        if (at - connection.openedAt > connectTimeoutMs) this.#lose(connection, "could not set up client-side caching: timed out");
      } else if (connection.ping !== undefined) {
        if (at - connection.ping.sentAt > staleAfterMs) this.#lose(connection, "the invalidation connection stopped answering");
      } else {
        const seq = Atomics.add(this.#view, layout.PING_SEQ, 1) + 1;
        connection.ping = { sentAt: at, seq };
        connection.socket.write(this.env.encodeCommand("PING"));
      }
    }
  }
}

/**
 * The worker's source: CommonJS, so there is no file to find at run time, under tsx, vitest or
 * dist alike. (`__name`: tsx's transform names functions and classes with it.)
 */
export function programSource(): string {
  return `"use strict";
const __name = (f) => f;
const CHANNEL = ${JSON.stringify(CHANNEL)};
${keySlotOf.toString()}
${encodeCommand.toString()}
${parseReply.toString()}
const InvalidationProgram = ${InvalidationProgram.toString()};
const { parentPort, workerData } = require("node:worker_threads");
const randomHex = () => require("node:crypto").randomBytes(8).toString("hex");
const net = require("node:net");
const tls = require("node:tls");
const os = require("node:os");
new InvalidationProgram({ parentPort, workerData, net, tls, os, randomHex, keySlotOf, encodeCommand, parseReply }).run();
`;
}
