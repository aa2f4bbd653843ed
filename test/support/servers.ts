/**
 * Real PostgreSQL and Redis servers for the tests, from Debian's packages: ephemeral (a temporary
 * folder, a free port, no durability) and stopped by the pid we started, nothing else. A port
 * chosen free can be taken by another process before the server binds it (vitest runs files in
 * parallel, other suites share the machine): each start is tried again on fresh ports then.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/** A port that was free a moment ago (another process may bind it before we do: see `onFreshPorts`). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Chooses a port for a server to bind: `freePort`, unless a test offers taken ones. */
export type PortChooser = () => Promise<number>;

/** A server that did not start; `portTaken` when its own log says a port it was given is in use. */
export class ServerStartError extends Error {
  constructor(
    message: string,
    readonly portTaken: boolean,
  ) {
    super(message);
    this.name = "ServerStartError";
  }
}

/** How redis-server and PostgreSQL say a port they were given is bound by another process. */
export const portInUse = /Address already in use/i;

/** `count` distinct ports from `choosePort` (two calls of freePort can give the same port). */
export async function choosePorts(count: number, choosePort: PortChooser = freePort): Promise<number[]> {
  const ports: number[] = [];
  for (let calls = 0; ports.length < count; calls++) {
    if (calls >= count * 5) throw new Error(`no ${count} distinct free ports after ${calls} tries`);
    const port = await choosePort();
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

/**
 * Starts a server on `ports`, and again on `ports.length` fresh ones while it fails because one was
 * taken before it bound it, `attempts` times in all; any other failure is thrown at once. The last
 * failure's message (the server's own log lines) is kept in the error.
 */
export async function onFreshPorts<T>(
  ports: readonly number[],
  start: (ports: readonly number[]) => Promise<T>,
  { choosePort = freePort, attempts = 5 }: { choosePort?: PortChooser; attempts?: number } = {},
): Promise<T> {
  let current = ports;
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(current);
    } catch (error) {
      if (!(error instanceof ServerStartError && error.portTaken)) throw error;
      if (attempt >= attempts) {
        throw new ServerStartError(
          `${error.message}\n(tried ${attempts} times, on fresh ports each time: a port was taken every time)`,
          true,
        );
      }
      current = await choosePorts(ports.length, choosePort);
    }
  }
}

/** The last `count` lines of a log. */
export function lastLines(text: string, count = 15): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

/** A redis-server (or a sentinel) we spawned, with the end of its log (its stdout). */
export interface RedisProcess {
  readonly child: ChildProcess;
  /** The last lines it wrote. */
  log(): string;
  /** Resolves once it has exited and its output is read to the end. */
  readonly closed: Promise<void>;
}

export function spawnRedis(args: readonly string[]): RedisProcess {
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  // Only the end is kept: a node that lives through a failover test logs for minutes.
  let tail = "";
  const keep = (chunk: Buffer) => {
    tail += chunk.toString();
    if (tail.length > 16_384) tail = tail.slice(-8192);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const closed = new Promise<void>((resolve) => {
    child.once("close", () => resolve());
    // A failed spawn (no redis-server) closes too; its error is the log.
    child.once("error", (error) => keep(Buffer.from(`${error.message}\n`)));
  });
  return { child, log: () => lastLines(tail), closed };
}

/**
 * Whether the server answering on `port` is the process `pid` (its INFO says so), not another
 * process that holds the port (a redis-server that could not bind it exits; until then a probe of
 * the port alone would take the other listener for it).
 */
function answersAs(port: number, pid: number, exited: Promise<unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => socket.write("INFO server\r\n"));
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString();
      const found = /process_id:(\d+)\r\n/.exec(reply);
      if (found) done(Number(found[1]) === pid);
    });
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
    // Another listener may never answer: the process's exit ends the probe at once.
    exited.then(() => done(false));
  });
}

/**
 * Waits until the redis-server we spawned answers on `port`. Fails with its log lines if it exits
 * first (`portTaken` when the log says a port was in use) or does not answer in time (then it is
 * killed).
 */
export async function waitForRedis(server: RedisProcess, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  const closed = server.closed.then(() => {
    exited = true;
  });
  const pid = server.child.pid ?? -1;
  for (;;) {
    if (exited) {
      const log = server.log();
      throw new ServerStartError(
        `redis-server ${pid} for port ${port} exited (${server.child.exitCode ?? server.child.signalCode}) before answering; its log ends:\n${log}`,
        portInUse.test(log),
      );
    }
    if (await answersAs(port, pid, closed)) return;
    if (Date.now() > deadline) {
      server.child.kill("SIGKILL");
      throw new ServerStartError(
        `redis-server ${pid} did not answer on port ${port} within ${timeoutMs} ms; its log ends:\n${server.log()}`,
        false,
      );
    }
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 25))]);
  }
}

function postgresBin(name: string): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const version of versions) {
    const path = join(root, version, "bin", name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} not found under ${root}: run scripts/install-test-deps.sh`);
}

const isRoot = process.getuid?.() === 0;

/**
 * Runs a PostgreSQL binary; as root, as the `postgres` user (PostgreSQL refuses to run as root).
 * Asynchronous, so that the other servers of the suite start meanwhile.
 */
async function runPg(bin: string, args: string[]): Promise<void> {
  const command = isRoot ? "runuser" : bin;
  const argv = isRoot ? ["-u", "postgres", "--", bin, ...args] : args;
  await promisify(execFile)(command, argv);
}

export interface PostgresServer {
  readonly url: string;
  readonly port: number;
  /** Stops the server, keeping its data (for outage tests); `start` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops the server and deletes its data. */
  destroy(): Promise<void>;
}

export async function startPostgres(options: { choosePort?: PortChooser } = {}): Promise<PostgresServer> {
  const dir = mkdtempSync(join(tmpdir(), "auth-pg-"));
  chmodSync(dir, 0o700);
  if (isRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, "data");
  await runPg(postgresBin("initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]);
  const log = join(dir, "log");
  const optionsOn = (port: number) =>
    [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses=127.0.0.1",
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
      "-c max_connections=200",
    ].join(" ");
  let running = false;
  // pg_ctl -w returns as soon as the postmaster exits, which it does when it cannot bind the port.
  const startOn = async (port: number) => {
    const from = existsSync(log) ? statSync(log).size : 0;
    try {
      await runPg(postgresBin("pg_ctl"), ["-D", data, "-o", optionsOn(port), "-l", log, "-w", "-t", "60", "start"]);
    } catch (error) {
      const written = existsSync(log) ? lastLines(readFileSync(log).subarray(from).toString()) : "";
      throw new ServerStartError(
        `PostgreSQL did not start on port ${port}: ${error instanceof Error ? error.message : String(error)}\nits log ends:\n${written}`,
        portInUse.test(written),
      );
    }
    running = true;
  };
  // "fast" still cuts every client off, but flushes first: with synchronous_commit=off an
  // "immediate" stop would lose the last commits (the schema, in a fresh cluster).
  const stopWith = async (mode: "fast" | "immediate") => {
    if (!running) return;
    await runPg(postgresBin("pg_ctl"), ["-D", data, "-m", mode, "-w", "stop"]);
    running = false;
  };
  const stop = () => stopWith("fast");
  let port: number;
  try {
    port = await onFreshPorts(
      await choosePorts(1, options.choosePort),
      async ([chosen]) => {
        await startOn(chosen!);
        return chosen!;
      },
      options,
    );
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // Started again on the port the tests were given.
  const start = () => startOn(port);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    async destroy() {
      try {
        await stopWith("immediate");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Starts it again on the same port (after `stop`). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A standalone redis-server on a free port (or on `port`, then without trying others), started
 * again on fresh ports when the one chosen was taken before it bound it.
 */
export async function startRedis(options: { port?: number; choosePort?: PortChooser } = {}): Promise<RedisServer> {
  let running: RedisProcess | undefined;
  const launch = async (port: number) => {
    const server = spawnRedis(["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"]);
    running = server;
    await waitForRedis(server, port);
  };
  let chosen: number;
  if (options.port !== undefined) {
    chosen = options.port;
    await launch(chosen);
  } else {
    const launchOn = async ([port]: readonly number[]) => {
      await launch(port!);
      return port!;
    };
    chosen = await onFreshPorts(await choosePorts(1, options.choosePort), launchOn, options);
  }
  return {
    url: `redis://127.0.0.1:${chosen}`,
    port: chosen,
    start: () => launch(chosen),
    async stop() {
      const server = running;
      running = undefined;
      if (server === undefined || server.child.exitCode !== null || server.child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        server.child.once("exit", () => resolve());
        server.child.kill("SIGTERM");
      });
    },
  };
}
