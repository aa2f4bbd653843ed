/**
 * Redis server-assisted client-side caching with one server: a tracking reader on the event loop,
 * and an invalidation connection on the invalidation thread (invalidation-thread.ts).
 *
 * - The invalidation connection (RESP2) subscribes to `__redis__:invalidate`, on the thread, which
 *   publishes each invalidation in shared memory as it arrives (invalidation-epochs.ts) and then
 *   tells the event loop. RESP2 because in RESP2 Redis delivers invalidations to a redirect
 *   target as ordinary messages on that channel (and ioredis 6, which the reader uses, drops the
 *   RESP3 `invalidate` push: DataHandler.returnPush knows no such type).
 * - The reader sends `CLIENT TRACKING ON REDIRECT <the invalidation connection's id>` in the
 *   default mode, and then only reads of keys we cache. Default mode (Redis remembers the keys
 *   this connection read) rather than BCAST (every change under a prefix): BCAST would send every
 *   instance an invalidation for every session created, rotated or expired anywhere, most of them
 *   for sessions this instance never saw; default mode sends each instance only those it holds,
 *   at the price of Redis's tracking table (bounded by `tracking-table-max-keys`; when Redis
 *   evicts a key from it, it sends the invalidation first, so nothing is lost).
 *
 * The thread connects to the server the reader is connected to (for a Sentinel group, the master
 * the reader found). A client id names a connection on one server only: after a failover, a
 * stale id could name a stranger's connection there. So before trusting the redirect, the reader
 * checks that the id carries the random name our invalidation connection gave itself, on the
 * reader's own server.
 *
 * The pair is up only while both connections are; anything else resets it, and `onReset` runs
 * (synchronously, from the event that showed it) before anything else can read the cache: the
 * reader closing or erring, a read that fails, or the thread's report that the invalidation
 * connection closed, erred or left its heartbeat unanswered for `staleAfterMs` (a silent network
 * partition; the thread's own PING, so the event loop's pauses do not delay it). The thread has
 * moved the shared global epoch before it reports, so cached answers are refused from that
 * moment, and a reader is not handed out once the thread has flagged its connection lost. Redis
 * also tells a RESP3 tracking client `tracking-redir-broken` when its redirect target is gone;
 * our reader is RESP2, so the same fact reaches us as the invalidation connection's own close, or
 * as its missed heartbeat. Then the pair is rebuilt from new connections (never ioredis's
 * reconnection, which would resend commands on a connection not yet tracking).
 *
 * The heartbeat's answer travels the same connection as the invalidations, after every
 * invalidation Redis generated before it processed the PING: each answer proves that every change
 * made before its PING was sent has been announced here (see `onRound`, which lets local fences
 * go: session-liveness.ts). PINGs are numbered in shared memory, so a fence compares numbers, not
 * two threads' clocks.
 */
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Redis } from "ioredis";
import type { InvalidationConnection, InvalidationThread, ThreadTarget } from "./invalidation-thread.js";

export { INVALIDATION_CHANNEL } from "./invalidation-thread.js";

export interface TrackingPairOptions {
  /** A new tracking reader to this pair's server: lazy (not connected), never reconnecting, RESP2. */
  readonly open: () => Redis;
  /** The thread that holds the invalidation connection. */
  readonly thread: InvalidationThread;
  /** Keys Redis announced changed (null: every key, FLUSHALL or FLUSHDB), and when they reached the thread (µs since the epoch). */
  readonly onInvalidate: (keys: readonly string[] | null, atUs: number) => void;
  /** The pair went down, or came up after being down: whatever was cached must go, now. */
  readonly onReset: (reason: string) => void;
  /** A heartbeat answer: every change made before PING number `seq` was sent has been announced. */
  readonly onRound: (seq: number) => void;
  readonly onProblem: (problem: string, error?: unknown) => void;
}

type State = "down" | "starting" | "up" | "closed";

/** Where the thread finds the reader's server: its address (for a Sentinel group, the master the reader found), credentials and TLS. */
export function threadTarget(reader: Redis): ThreadTarget {
  const options = reader.options;
  const credentials = {
    ...(options.username === undefined || options.username === null ? {} : { username: options.username }),
    ...(options.password === undefined || options.password === null ? {} : { password: options.password }),
  };
  const stream = reader.stream as Socket | TLSSocket | undefined;
  const servername =
    stream !== undefined && "servername" in stream && typeof stream.servername === "string" ? stream.servername : undefined;
  const tls = options.tls === undefined ? {} : { tls: { ...options.tls, ...(servername === undefined ? {} : { servername }) } };
  if (typeof options.path === "string" && options.path !== "") return { path: options.path, ...credentials, ...tls };
  const sentinel = Array.isArray(options.sentinels) && options.sentinels.length > 0;
  const host = sentinel ? stream?.remoteAddress : options.host;
  const port = sentinel ? stream?.remotePort : options.port;
  if (host === undefined || port === undefined) throw new Error("the tracking reader has no server address");
  return { host, port, ...credentials, ...tls };
}

export class TrackingPair {
  #state: State = "down";
  #reader: Redis | undefined;
  #invalidations: InvalidationConnection | undefined;
  #retry: NodeJS.Timeout | undefined;
  #attempts = 0;
  #name: string | undefined;
  /** The current attempt: events of an older one are ignored. */
  #attempt: object | undefined;

  constructor(private readonly options: TrackingPairOptions) {}

  /** The tracking reader, while the pair is up (and the thread has not found its invalidation connection lost). */
  get reader(): Redis | undefined {
    if (this.#state !== "up") return undefined;
    if (this.#invalidations?.lost() === true) {
      this.fail("the invalidation connection closed or stalled (the thread's report is on its way)");
      return undefined;
    }
    return this.#reader;
  }

  get up(): boolean {
    return this.#state === "up";
  }

  /** The CLIENT SETNAME of the invalidation connection while up (operators find it in CLIENT LIST). */
  get invalidationClientName(): string | undefined {
    return this.#state === "up" ? this.#name : undefined;
  }

  start(): void {
    if (this.#state !== "down") return;
    this.#state = "starting";
    const attempt = {};
    this.#attempt = attempt;
    this.#connect(attempt).catch((error: unknown) => {
      if (this.#attempt === attempt) this.fail("could not set up client-side caching", error);
    });
  }

  /** Resets the pair (a failed read, a broken connection): the cache goes now, the pair is rebuilt. */
  fail(reason: string, error?: unknown): void {
    if (this.#state === "closed" || this.#state === "down") return;
    const wasUp = this.#state === "up";
    this.#state = "down";
    this.#teardown();
    this.options.onReset(reason);
    if (wasUp || error !== undefined) this.options.onProblem(reason, error);
    // Back off while the server stays away: 100 ms, 200 ms, … at most 2 s.
    this.#attempts += 1;
    this.#retry = setTimeout(() => this.start(), Math.min(100 * this.#attempts, 2000));
    this.#retry.unref();
  }

  close(): void {
    this.#state = "closed";
    clearTimeout(this.#retry);
    this.#teardown();
  }

  async #connect(attempt: object): Promise<void> {
    const current = () => this.#attempt === attempt && (this.#state === "starting" || this.#state === "up");
    const reader = this.options.open();
    this.#reader = reader;
    reader.on("error", () => {}); // followed by close, handled there
    reader.on("close", () => {
      if (this.#reader === reader) this.fail("the tracking reader closed");
    });
    await reader.connect();
    const invalidations = await this.options.thread.open(threadTarget(reader), {
      invalidate: (keys, atUs) => {
        if (current()) this.options.onInvalidate(keys, atUs);
      },
      lost: (reason, error) => {
        if (current()) this.fail(reason, error === undefined ? undefined : new Error(error));
      },
      round: (seq) => {
        if (this.#attempt === attempt && this.#state === "up") this.options.onRound(seq);
      },
    });
    if (!current()) {
      invalidations.close(); // closed or failed meanwhile
      return;
    }
    this.#invalidations = invalidations;
    await reader.call("CLIENT", "TRACKING", "ON", "REDIRECT", invalidations.id);
    const listed = String(await reader.call("CLIENT", "LIST", "ID", invalidations.id));
    if (!listed.includes(` name=${invalidations.name} `))
      throw new Error("the invalidation connection is not on the tracking reader's server");
    if (this.#state !== "starting" || this.#attempt !== attempt) return; // closed or failed meanwhile
    if (invalidations.lost()) throw new Error("the invalidation connection was lost while setting up");
    this.#state = "up";
    this.#name = invalidations.name;
    this.#attempts = 0;
    // Down to up: anything read while no invalidation could arrive is suspect (nothing is
    // cached then, but a read begun before may still be settling).
    this.options.onReset("client-side caching is up");
  }

  #teardown(): void {
    this.#attempt = undefined;
    const reader = this.#reader;
    const invalidations = this.#invalidations;
    this.#reader = undefined;
    this.#invalidations = undefined;
    invalidations?.close();
    reader?.disconnect();
  }
}
