/**
 * The invalidation thread (infra/redis/invalidation-thread.ts) against a fake Redis that speaks
 * just enough RESP2: what it publishes in shared memory for each message, before the event loop
 * hears of it, and what it does with a message it does not understand.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { GLOBAL, keySlotOf, SLOT_BASE } from "../../src/infra/redis/invalidation-epochs.js";
import { type InvalidationEvents, InvalidationThread, type ThreadTiming } from "../../src/infra/redis/invalidation-thread.js";

const bulk = (text: string) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
const message = (keys: string | null) =>
  `*3\r\n${bulk("message")}${bulk("__redis__:invalidate")}${keys === null ? "*-1\r\n" : `*1\r\n${bulk(keys)}`}`;

/** A fake Redis: answers the thread's set-up and PINGs, and hands the test the socket. */
async function fakeRedis(authReply = "+OK\r\n"): Promise<{ port: number; client: Promise<Socket>; server: Server }> {
  let accept!: (socket: Socket) => void;
  const client = new Promise<Socket>((resolve) => (accept = resolve));
  const server = createServer((socket) => {
    let seen = "";
    socket.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes("SUBSCRIBE")) {
        const auth = seen.includes("AUTH") ? authReply : "";
        socket.write(`${auth}:42\r\n+OK\r\n*3\r\n${bulk("subscribe")}${bulk("__redis__:invalidate")}:1\r\n`);
        seen = "";
        accept(socket);
      } else if (seen.includes("PING")) {
        socket.write(`*2\r\n${bulk("pong")}${bulk("")}`);
        seen = "";
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { port: (server.address() as { port: number }).port, client, server };
}

/** Events heard on the event loop. */
function recorder() {
  const heard: string[] = [];
  const events: InvalidationEvents = {
    invalidate: (keys) => heard.push(`invalidate ${keys === null ? "*" : keys.join(",")}`),
    lost: (reason) => heard.push(`lost ${reason}`),
    round: () => heard.push("round"),
  };
  return { heard, events };
}

/** Spins, never yielding to the event loop, until `condition` holds (or 2 s pass). */
function spin(condition: () => boolean): boolean {
  const deadline = Date.now() + 2000;
  while (!condition()) if (Date.now() > deadline) return false;
  return true;
}

describe("the invalidation thread", () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0)) step();
  });

  async function setUp(priority: Partial<ThreadTiming> = {}) {
    const redis = await fakeRedis();
    const thread = new InvalidationThread({ heartbeatMs: 50, staleAfterMs: 200, onProblem: () => {}, ...priority });
    cleanup.push(
      () => thread.close(),
      () => redis.server.close(),
    );
    const { heard, events } = recorder();
    const connection = await thread.open({ host: "127.0.0.1", port: redis.port }, events);
    const socket = await redis.client;
    cleanup.push(() => socket.destroy());
    return { thread, connection, socket, heard };
  }

  // ioredis only warns when given a password the server does not need; the tracking reader is an
  // ioredis client, so the thread must not refuse what the reader accepted.
  it.each([
    [
      "a server without a password",
      "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n",
      true,
    ],
    ["a wrong password", "-WRONGPASS invalid username-password pair or user is disabled.\r\n", false],
  ])("given a password, sets up on %s: %s", async (_, authReply, opens) => {
    const redis = await fakeRedis(authReply);
    const thread = new InvalidationThread({ heartbeatMs: 50, staleAfterMs: 200, onProblem: () => {} });
    cleanup.push(
      () => thread.close(),
      () => redis.server.close(),
    );
    const opening = thread.open({ host: "127.0.0.1", port: redis.port, password: "not-needed" }, recorder().events);
    if (opens) expect((await opening).id).toBe("42");
    else await expect(opening).rejects.toThrow(/could not set up client-side caching/);
  });

  it("sets up with CLIENT ID, a random name and SUBSCRIBE, and answers the id", async () => {
    const { connection } = await setUp();
    expect(connection.id).toBe("42");
    expect(connection.name).toMatch(/^authward-invalidations-[0-9a-f]{16}$/);
    expect(connection.lost()).toBe(false);
  });

  // As root (the test runs), the thread may raise its priority; an out-of-range nice value is
  // refused by the kernel's interface as a process without the privilege is refused.
  it.runIf(process.getuid?.() === 0)("raises its priority where permitted, and says so once where not", async () => {
    const granted: number[] = [];
    await setUp({ onDefaultPriority: (wanted) => granted.push(wanted) });
    expect(granted).toEqual([]);
    const refused: number[] = [];
    // The thread says "ready" (with the nice value it has) before its first connection is open.
    await setUp({ niceness: -21, onDefaultPriority: (wanted) => refused.push(wanted) });
    expect(refused).toEqual([-21]);
  });

  it("moves a key's slot in shared memory before the event loop hears of the invalidation", async () => {
    const { thread, socket, heard } = await setUp();
    const key = "p:{u1}:s:abc";
    const slot = SLOT_BASE + keySlotOf(key);
    const before = Atomics.load(thread.epochs.view, slot);
    const mark = thread.epochs.mark(key);
    socket.write(message(key));
    // No await from here: the event loop cannot run the thread's message.
    expect(spin(() => Atomics.load(thread.epochs.view, slot) === before + 1)).toBe(true);
    expect(thread.epochs.holds(mark)).toBe(false);
    expect(heard).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(heard).toContain(`invalidate ${key}`);
  });

  it("moves the global epoch on a flush (an invalidation of every key)", async () => {
    const { thread, socket } = await setUp();
    const global = Atomics.load(thread.epochs.view, GLOBAL);
    socket.write(message(null));
    expect(spin(() => Atomics.load(thread.epochs.view, GLOBAL) > global)).toBe(true);
  });

  it("flags the connection lost and moves the global epoch on a message it does not understand, or on a close", async () => {
    const first = await setUp();
    const global = Atomics.load(first.thread.epochs.view, GLOBAL);
    first.socket.write("*1\r\n$5\r\nhello\r\n");
    expect(spin(() => first.connection.lost())).toBe(true);
    expect(Atomics.load(first.thread.epochs.view, GLOBAL)).toBeGreaterThan(global);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(first.heard).toContain("lost an invalidation message of an unknown shape");

    const second = await setUp();
    second.socket.destroy();
    expect(spin(() => second.connection.lost())).toBe(true);
  });

  it("sends numbered heartbeats and reports each answer as a round", async () => {
    const { thread, heard } = await setUp();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard.filter((event) => event === "round").length).toBeGreaterThan(1);
    expect(thread.epochs.pingSeq()).toBeGreaterThan(1);
  });

  it("moves the global epoch and flags its connections lost before it dies of an error, says which, and is replaced", async () => {
    const problems: string[] = [];
    const { thread, connection, heard } = await setUp({ onProblem: (problem, error) => problems.push(`${problem}: ${String(error)}`) });
    const global = Atomics.load(thread.epochs.view, GLOBAL);
    // A TLS option that node:tls refuses synchronously: an exception the thread does not catch.
    const failing = thread.open({ host: "127.0.0.1", port: 1, tls: { minVersion: "bogus" as "TLSv1.3" } }, recorder().events);
    expect(spin(() => connection.lost())).toBe(true);
    expect(Atomics.load(thread.epochs.view, GLOBAL)).toBeGreaterThan(global);
    await expect(failing).rejects.toThrow(/invalidation thread failed/);
    expect(heard).toContain("lost the invalidation thread failed");
    // The log learns what failed, not only an exit code (and only once: its exit is not a second death).
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(problems).toEqual([expect.stringMatching(/^the invalidation thread failed: TypeError.*bogus/)]);
    // The next connection gets a new thread.
    const redis = await fakeRedis();
    cleanup.push(() => redis.server.close());
    const again = await thread.open({ host: "127.0.0.1", port: redis.port }, recorder().events);
    cleanup.push(async () => (await redis.client).destroy());
    expect(again.lost()).toBe(false);
  });

  it("flags the connection lost when its heartbeat goes unanswered", async () => {
    const { connection, socket, heard } = await setUp();
    socket.removeAllListeners("data"); // a silent server from now on
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(connection.lost()).toBe(true);
    expect(heard).toContain("lost the invalidation connection stopped answering");
  });

  it("replaces a thread that never gets ready, with a word, and fails the connections it was opening", async () => {
    const problems: string[] = [];
    const stuck = "setInterval(() => {}, 1000);"; // starts, never says ready
    const thread = new InvalidationThread({
      heartbeatMs: 50,
      staleAfterMs: 200,
      onProblem: (problem) => problems.push(problem),
      program: () => stuck,
    });
    cleanup.push(() => thread.close());
    const opening = thread.open({ host: "127.0.0.1", port: 1 }, recorder().events);
    await expect(opening).rejects.toThrow(/did not start/);
    expect(problems).toEqual(["the invalidation thread did not start"]);
  });
});
