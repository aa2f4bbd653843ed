/**
 * Redis server-assisted client-side caching with one server: a pair of connections of our own.
 *
 * - The invalidation connection (RESP2) subscribes to `__redis__:invalidate`. ioredis 6 drops the
 *   RESP3 `invalidate` push (DataHandler.returnPush knows no such type), so RESP3's in-band mode
 *   cannot be used; in RESP2 Redis delivers invalidations to a redirect target as ordinary
 *   messages on that channel.
 * - The reader sends `CLIENT TRACKING ON REDIRECT <the invalidation connection's id>` in the
 *   default mode, and then only reads of keys we cache. Default mode (Redis remembers the keys
 *   this connection read) rather than BCAST (every change under a prefix): BCAST would send every
 *   instance an invalidation for every session created, rotated or expired anywhere, most of them
 *   for sessions this instance never saw; default mode sends each instance only those it holds,
 *   at the price of Redis's tracking table (bounded by `tracking-table-max-keys`; when Redis
 *   evicts a key from it, it sends the invalidation first, so nothing is lost).
 *
 * A client id names a connection on one server only: after a failover, a stale id could name a
 * stranger's connection there. So before trusting the redirect, the reader checks that the id
 * carries the random name our invalidation connection gave itself, on the reader's own server.
 *
 * The pair is up only while both connections are; anything else resets it, and `onReset` runs
 * (synchronously, from the event that showed it) before anything else can read the cache: a
 * connection that closes or errs, an invalidation connection whose heartbeat goes unanswered for
 * `staleAfterMs` (a silent network partition), or a read that fails. Redis also tells a RESP3
 * tracking client `tracking-redir-broken` when its redirect target is gone; ioredis 6 drops that
 * push too, and our reader is RESP2, so the same fact reaches us as the invalidation connection's
 * own close, or as its missed heartbeat. Then the pair is rebuilt from new connections (never
 * ioredis's reconnection, which would resend commands on a connection not yet tracking).
 *
 * The heartbeat is a PING on the invalidation connection. Its answer travels the same connection
 * as the invalidations, after every invalidation Redis generated before it processed the PING:
 * each answer proves that every change made before its PING was sent has been announced here
 * (see `onRound`, which lets local fences go: session-liveness.ts).
 */
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";

export const INVALIDATION_CHANNEL = "__redis__:invalidate";

export interface TrackingPairOptions {
  /** A new connection to this pair's server: lazy (not connected), never reconnecting, RESP2. */
  readonly open: (role: "reader" | "invalidations") => Redis;
  /** Keys Redis announced changed; null: every key (FLUSHALL, FLUSHDB). */
  readonly onInvalidate: (keys: readonly string[] | null) => void;
  /** The pair went down, or came up after being down: whatever was cached must go, now. */
  readonly onReset: (reason: string) => void;
  /** A heartbeat answer: every change made before `sentAt` (performance.now) has been announced. */
  readonly onRound: (sentAt: number) => void;
  readonly onProblem: (problem: string, error?: unknown) => void;
  readonly heartbeatMs: number;
  readonly staleAfterMs: number;
}

type State = "down" | "starting" | "up" | "closed";

export class TrackingPair {
  #state: State = "down";
  #reader: Redis | undefined;
  #invalidations: Redis | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #pingSentAt: number | undefined;
  #attempts = 0;
  #name: string | undefined;

  constructor(private readonly options: TrackingPairOptions) {}

  /** The tracking reader, while the pair is up. */
  get reader(): Redis | undefined {
    return this.#state === "up" ? this.#reader : undefined;
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
    this.#connect().catch((error: unknown) => this.fail("could not set up client-side caching", error));
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

  async #connect(): Promise<void> {
    const invalidations = this.options.open("invalidations");
    const reader = this.options.open("reader");
    this.#invalidations = invalidations;
    this.#reader = reader;
    for (const [connection, role] of [
      [invalidations, "invalidation connection"],
      [reader, "tracking reader"],
    ] as const) {
      connection.on("error", () => {}); // followed by close, handled there
      connection.on("close", () => this.#lost(connection, `the ${role} closed`));
    }
    invalidations.on("messageBuffer", (channel: Buffer, keys: unknown) => this.#message(invalidations, channel, keys));
    await Promise.all([invalidations.connect(), reader.connect()]);
    const id = String(await invalidations.client("ID"));
    const name = `authward-invalidations-${randomBytes(8).toString("hex")}`;
    await invalidations.client("SETNAME", name);
    await invalidations.subscribe(INVALIDATION_CHANNEL);
    await reader.call("CLIENT", "TRACKING", "ON", "REDIRECT", id);
    const listed = String(await reader.call("CLIENT", "LIST", "ID", id));
    if (!listed.includes(` name=${name} `)) throw new Error("the invalidation connection is not on the tracking reader's server");
    if (this.#state !== "starting" || this.#reader !== reader) return; // closed or failed meanwhile
    this.#state = "up";
    this.#name = name;
    this.#attempts = 0;
    this.#pingSentAt = undefined;
    // Down to up: anything read while no invalidation could arrive is suspect (nothing is
    // cached then, but a read begun before may still be settling).
    this.options.onReset("client-side caching is up");
    this.#heartbeat = setInterval(() => this.#beat(), this.options.heartbeatMs);
    this.#heartbeat.unref();
  }

  #lost(connection: Redis, reason: string): void {
    if (connection === this.#reader || connection === this.#invalidations) this.fail(reason);
  }

  #message(connection: Redis, channel: Buffer, keys: unknown): void {
    if (connection !== this.#invalidations || channel.toString() !== INVALIDATION_CHANNEL) return;
    if (keys === null) this.options.onInvalidate(null);
    else if (Array.isArray(keys)) this.options.onInvalidate(keys.map((key: Buffer | string) => key.toString()));
    else this.fail("an invalidation message of an unknown shape");
  }

  #beat(): void {
    const invalidations = this.#invalidations;
    if (this.#state !== "up" || invalidations === undefined) return;
    const now = performance.now();
    if (this.#pingSentAt !== undefined) {
      if (now - this.#pingSentAt > this.options.staleAfterMs) this.fail("the invalidation connection stopped answering");
      return;
    }
    const sentAt = now;
    this.#pingSentAt = sentAt;
    invalidations.ping().then(
      () => {
        if (this.#invalidations !== invalidations || this.#pingSentAt !== sentAt) return;
        this.#pingSentAt = undefined;
        this.options.onRound(sentAt);
      },
      (error: unknown) => {
        if (this.#invalidations === invalidations) this.fail("the invalidation connection failed a heartbeat", error);
      },
    );
  }

  #teardown(): void {
    clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    this.#pingSentAt = undefined;
    const connections = [this.#reader, this.#invalidations];
    this.#reader = undefined;
    this.#invalidations = undefined;
    for (const connection of connections) connection?.disconnect();
  }
}
