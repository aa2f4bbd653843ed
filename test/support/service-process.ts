/**
 * The real service as its own process tree (`node --import tsx src/main.ts`, a cluster's primary
 * and its workers) on the suite's PostgreSQL and Redis, for tests of what only a process shows:
 * signals, crashes, restarts and exit codes. Its stdout (JSON lines) goes to the suite's log
 * folder, so the suite's log check reads it too.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inject } from "vitest";
import { createTestDatabase, testSigningKey } from "./app.js";
import { freePort } from "./servers.js";

const root = join(import.meta.dirname, "..", "..");

/** One parsed log line of the service. */
export type LogLine = Record<string, unknown> & { msg?: string; pid?: number; level?: string };

export interface ServiceProcess {
  readonly child: ChildProcess;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** The operators' metrics listener (the primary's, in a cluster). */
  readonly metricsPort: number;
  /** Resolves with the exit code (or the signal) once the primary is gone. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** The JSON lines written to stdout so far. */
  lines(): LogLine[];
  /** Waits until `predicate` holds over the lines so far; fails with the output on a timeout or an exit. */
  waitFor<T>(what: string, predicate: (lines: LogLine[]) => T | undefined, timeoutMs?: number): Promise<T>;
  /** The pids of the workers that have logged "auth service listening", in order. */
  listeningPids(): number[];
  /** SIGKILLs the primary and every worker it ever logged, if still running; removes the data folder. */
  destroy(): void;
}

export interface ServiceProcessOptions {
  /** Names the log file. */
  readonly name: string;
  readonly env?: Record<string, string>;
  /** Modules loaded with --import into the primary and (inherited) every worker. */
  readonly imports?: readonly string[];
  readonly httpPort?: number;
}

export async function spawnService(options: ServiceProcessOptions): Promise<ServiceProcess> {
  const grpcPort = await freePort();
  const httpPort = options.httpPort ?? (await freePort());
  const metricsPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `auth-${options.name}-`));
  const child = spawn(process.execPath, ["--import", "tsx", ...(options.imports ?? []).flatMap((m) => ["--import", m]), "src/main.ts"], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // Not a developer's .env in the repository.
      ENV_FILE: "/dev/null",
      DATABASE_URL: await createTestDatabase(),
      REDIS_URL: inject("redisUrl"),
      REDIS_KEY_PREFIX: `${options.name.slice(0, 4)}${randomBytes(3).toString("hex")}:`,
      JWT_PRIVATE_KEY: testSigningKey(),
      JWT_ISSUER: "https://auth.test",
      MAIL_OUTBOX_DIR: join(dataDir, "outbox"),
      HOST: "127.0.0.1",
      GRPC_PORT: String(grpcPort),
      HTTP_PORT: String(httpPort),
      METRICS_PORT: String(metricsPort),
      BCRYPT_COST: "4",
      SHUTDOWN_TIMEOUT: "2s",
      // Every test client calls from 127.0.0.1 (as in test/support/app.ts): the per-address budgets
      // are lifted for tests of other behaviour; the abuse limits' own tests set theirs.
      LOGIN_MAX_FAILURES_PER_ADDRESS: "1000000",
      MAIL_PER_CLIENT_PER_HOUR: "1000000",
      DATA_DIR: dataDir,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const log = createWriteStream(join(inject("logDir"), `${options.name}-${process.pid}-${randomBytes(3).toString("hex")}.log`));
  let output = "";
  let pending = "";
  const lines: LogLine[] = [];
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString();
    log.write(chunk);
    pending += chunk.toString();
    const complete = pending.split("\n");
    pending = complete.pop() ?? "";
    for (const line of complete) {
      if (line.trim() === "") continue;
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        // Not JSON: kept in output(), and the suite's log check reports it.
      }
    }
  });
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  exited.then(() => log.end());

  const listeningPids = () => lines.filter((l) => l.msg === "auth service listening").map((l) => l.pid as number);
  return {
    child,
    grpcPort,
    httpPort,
    metricsPort,
    exited,
    output: () => output,
    lines: () => lines,
    listeningPids,
    async waitFor(what, predicate, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = predicate(lines);
        if (found !== undefined && found !== false) return found;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`the service exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${output.slice(-4000)}`);
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output.slice(-4000)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    destroy() {
      for (const pid of [child.pid, ...listeningPids()]) {
        if (pid !== undefined && isAlive(pid)) process.kill(pid, "SIGKILL");
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
