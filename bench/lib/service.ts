/** The service under test: compiled JS (`node dist/main.js`), as in production, in its own process tree. */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface RunningService {
  readonly grpcAddress: string;
  readonly baseUrl: string;
  /** GET /metrics on the operators' own listener (METRICS_HOST:METRICS_PORT). */
  readonly metricsUrl: string;
  /** The primary (or only) process and its workers. */
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * The memory settings the Dockerfile runs the service with (NODE_OPTIONS, MALLOC_ARENA_MAX), read
 * from it, so that the benchmark measures what is deployed.
 */
export function runtimeEnvOfDockerfile(root: string): Record<string, string> {
  const dockerfile = readFileSync(join(root, "Dockerfile"), "utf8");
  const nodeOptions = /NODE_OPTIONS="([^"]*)"/.exec(dockerfile)?.[1];
  const arenas = /MALLOC_ARENA_MAX=(\d+)/.exec(dockerfile)?.[1];
  if (nodeOptions === undefined || arenas === undefined) throw new Error("the Dockerfile sets no NODE_OPTIONS or MALLOC_ARENA_MAX");
  return { NODE_OPTIONS: nodeOptions, MALLOC_ARENA_MAX: arenas };
}

/**
 * BENCH_NODE_OPTIONS, when the bench is run with it, is added to the service's NODE_OPTIONS: to
 * profile a scenario (`BENCH_NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --only …`)
 * or try a runtime flag against the Dockerfile's. BENCH_NODE_ARGS (space-separated) go on the
 * service's command line, for the flags NODE_OPTIONS refuses, such as `--trace-gc`; with
 * BENCH_NODE_ARGS_FOR=<dir>, only on the service built in <dir> (one side of a `--baseline` pair).
 */
function withExtraNodeOptions(env: Record<string, string>): Record<string, string> {
  const extra = process.env.BENCH_NODE_OPTIONS;
  if (extra === undefined || extra === "") return env;
  return { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ""} ${extra}`.trim() };
}

/** BENCH_NODE_ARGS, unless BENCH_NODE_ARGS_FOR names another worktree than `root`. */
function extraNodeArgs(root: string): string[] {
  const only = process.env.BENCH_NODE_ARGS_FOR;
  if (only !== undefined && only !== "" && resolve(only) !== resolve(root)) return [];
  return process.env.BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
}

export async function startService(root: string, env: Record<string, string>, logFile: string): Promise<RunningService> {
  const workers = Number(env.WORKERS ?? 1);
  // Straight to a file: the service writes its logs itself, as in production, and the benchmark
  // process does not spend CPU relaying them.
  const fd = openSync(logFile, "a");
  const child: ChildProcess = spawn(process.execPath, [...extraNodeArgs(root), "dist/main.js"], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...withExtraNodeOptions({ ...runtimeEnvOfDockerfile(root), ...env }) },
    stdio: ["ignore", fd, fd],
  });
  closeSync(fd);
  const startedAt = readFileSync(logFile, "utf8").length;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const output = readFileSync(logFile, "utf8").slice(startedAt);
    if (output.split('"msg":"auth service listening"').length > workers) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the service did not start:\n${output.slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const primary = child.pid as number;
  return {
    grpcAddress: `127.0.0.1:${env.GRPC_PORT}`,
    baseUrl: `http://127.0.0.1:${env.HTTP_PORT}`,
    metricsUrl: `http://127.0.0.1:${env.METRICS_PORT ?? 9464}/metrics`,
    pids() {
      let listed = "";
      try {
        listed = execFileSync("ps", ["-o", "pid=", "--ppid", String(primary)]).toString();
      } catch {
        // ps exits 1 when the process has no children: one process (WORKERS=1), no workers.
      }
      return [primary, ...listed.split("\n").map(Number).filter(Boolean)];
    },
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** CPU seconds (user + system, every thread) a process has used, from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
    // utime and stime, in clock ticks (100 a second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Time the hypervisor gave this machine's cores to others (steal), from /proc/stat, in seconds of one core. */
export function stealSeconds(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/) ?? [];
  return Number(fields[8] ?? 0) / 100;
}

/**
 * Resident memory of a process in MB, from /proc: all of it (RSS), and its private part (RssAnon:
 * the heap, stacks, malloc), which leaves out the pages of mapped files, mostly the node binary's
 * code, that every Node process on the machine shares.
 */
export function memoryMb(pid: number): { readonly rss: number; readonly private: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const mb = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 102.4) / 10;
    return { rss: mb("VmRSS"), private: mb("RssAnon") };
  } catch {
    return { rss: 0, private: 0 };
  }
}

export const rssMb = (pid: number): number => memoryMb(pid).rss;

/** Samples the memory of every process of the service while `during` runs; the highest RSS and private memory seen, per process. */
export async function peakRss<T>(
  service: RunningService,
  during: () => Promise<T>,
): Promise<{ result: T; peakMb: Record<number, number>; peakPrivateMb: Record<number, number> }> {
  const peak: Record<number, number> = {};
  const peakPrivate: Record<number, number> = {};
  // The processes once (ps is a process of its own), then /proc only.
  const pids = service.pids();
  const sample = () => {
    for (const pid of pids) {
      const memory = memoryMb(pid);
      peak[pid] = Math.max(peak[pid] ?? 0, memory.rss);
      peakPrivate[pid] = Math.max(peakPrivate[pid] ?? 0, memory.private);
    }
  };
  sample();
  const timer = setInterval(sample, 250);
  try {
    const result = await during();
    sample();
    return { result, peakMb: peak, peakPrivateMb: peakPrivate };
  } finally {
    clearInterval(timer);
  }
}

/** The service's non-OK answers to `rpc` so far, across transports (from its /metrics). */
export async function failedCalls(service: RunningService, rpc: string): Promise<number> {
  const response = await fetch(service.metricsUrl);
  // Never count a page that is not the metrics as "no failures".
  if (!response.ok) throw new Error(`GET ${service.metricsUrl}: ${response.status}`);
  const text = await response.text();
  let failed = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith("auth_requests_total{") || !line.includes(`rpc="${rpc}"`) || line.includes('code="OK"')) continue;
    failed += Number(line.split(" ").at(-1));
  }
  return failed;
}
