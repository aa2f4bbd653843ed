/**
 * What every scenario of `npm run bench` shares: the options, the rows and ratios it adds to, and
 * `observe`, which runs a load while sampling the service's memory and the CPU of the service and
 * of Redis.
 */
import { execFileSync, spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { cpuSeconds, peakRss, type RunningService, stealSeconds } from "./service.js";
import { type Figures, round } from "./stats.js";

export const root = join(import.meta.dirname, "..", "..");
export const cores = availableParallelism();

export interface Row {
  readonly scenario: string;
  readonly figures: Figures;
  /** CPU the service's processes (every thread) spent per call, in µs. */
  readonly serviceCpuUsPerCall?: number;
  /** CPU Redis spent per call, in µs. */
  readonly redisCpuUsPerCall?: number;
  /** Share of the cores the hypervisor gave to others during the measurement, in %. */
  readonly stealPercent?: number;
  readonly note?: string;
}

export interface Observed<T> {
  readonly result: T;
  readonly peakMb: Record<number, number>;
  readonly serviceCpu: number;
  readonly redisCpu: number;
  readonly stealPercent: number;
  /** How long the load ran, warm-up included (the CPU figures cover it all). */
  readonly seconds: number;
}

/** One run: its options, what the scenarios found, and the tools they measure with. */
export interface Bench {
  /** Seconds per measurement (--seconds). */
  readonly seconds: number;
  readonly workers: number;
  /** A scratch folder, removed at the end. */
  readonly work: string;
  readonly rows: Row[];
  readonly ratios: Record<string, number>;
  readonly peaks: Record<string, Record<number, number>>;
  readonly memory: Record<string, unknown>;
  /** Runs `load` while sampling RSS, the CPU of the service and of Redis, and steal. */
  observe<T>(svc: RunningService, load: () => Promise<T>): Promise<Observed<T>>;
}

export const log = (text: string) => process.stdout.write(`${text}\n`);

export function createBench(options: { seconds: number; workers: number; work: string; redisInfo: Redis }): Bench {
  const redisCpu = async () => {
    const info = await options.redisInfo.info("cpu");
    return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
  };
  const memory: Record<string, unknown> = {};
  return {
    seconds: options.seconds,
    workers: options.workers,
    work: options.work,
    rows: [],
    ratios: {},
    peaks: {},
    memory,
    async observe(svc, load) {
      const pids = svc.pids();
      const service0 = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
      const redis0 = await redisCpu();
      const steal0 = stealSeconds();
      const t0 = performance.now();
      const { result, peakMb, peakPrivateMb } = await peakRss(svc, load);
      const seconds = (performance.now() - t0) / 1000;
      // The largest private memory (RSS without shared file pages) of any process in any load of the run.
      const largestPrivate = Math.max(Number(memory.maxPrivateMb ?? 0), ...Object.values(peakPrivateMb));
      memory.maxPrivateMb = largestPrivate;
      return {
        result,
        peakMb,
        serviceCpu: pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - service0,
        redisCpu: (await redisCpu()) - redis0,
        stealPercent: round(((stealSeconds() - steal0) / (seconds * cores)) * 100, 1),
        seconds,
      };
    },
  };
}

/** A row from an observed load; CPU per call over the whole load, warm-up included, at its rate. */
export function row(scenario: string, observed: Observed<Figures>, extra: Partial<Row> = {}): Row {
  const calls = observed.result.rps * observed.seconds;
  return {
    scenario,
    figures: observed.result,
    serviceCpuUsPerCall: calls > 0 ? Math.round((observed.serviceCpu / calls) * 1e6) : undefined,
    redisCpuUsPerCall: calls > 0 ? Math.round((observed.redisCpu / calls) * 1e6) : undefined,
    stealPercent: observed.stealPercent,
    ...extra,
  };
}

/** `observed` with the calls the service logged as failed added to the load tool's errors. */
export function withServerErrors(observed: Observed<Figures>, serverErrors: number): Partial<Row> {
  return { figures: { ...observed.result, errors: observed.result.errors + serverErrors } };
}

/** The figures of several rounds as one: median rate and percentiles, summed counts; the largest RSS. */
export function combine(rounds: readonly Observed<Figures>[]): Observed<Figures> {
  const peakMb: Record<number, number> = {};
  for (const r of rounds) for (const [pid, mb] of Object.entries(r.peakMb)) peakMb[Number(pid)] = Math.max(peakMb[Number(pid)] ?? 0, mb);
  return {
    result: {
      rps: median(rounds.map((r) => r.result.rps)),
      p50Ms: median(rounds.map((r) => r.result.p50Ms)),
      p99Ms: median(rounds.map((r) => r.result.p99Ms)),
      requests: rounds.reduce((sum, r) => sum + r.result.requests, 0),
      errors: rounds.reduce((sum, r) => sum + r.result.errors, 0),
    },
    peakMb,
    serviceCpu: rounds.reduce((sum, r) => sum + r.serviceCpu, 0),
    redisCpu: rounds.reduce((sum, r) => sum + r.redisCpu, 0),
    stealPercent: round(rounds.reduce((sum, r) => sum + r.stealPercent, 0) / rounds.length, 1),
    seconds: rounds.reduce((sum, r) => sum + r.seconds, 0),
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** Runs bench/load/unary.ts in its own process. */
export function nodeLoad(options: Record<string, unknown>): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "bench", "load", "unary.ts"), JSON.stringify(options)], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as Figures) : reject(new Error(`load generator exited ${code}`))));
  });
}

/** bcrypt verifications per second with every core busy, in a process of its own. */
export function rawBcrypt(cost: number, seconds: number): number {
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", join(root, "bench", "load", "bcrypt-raw.ts"), String(cost), String(seconds)],
    {
      cwd: root,
      env: { ...process.env, UV_THREADPOOL_SIZE: String(cores) },
    },
  );
  return (JSON.parse(out.toString()) as { verifiesPerSecond: number }).verifiesPerSecond;
}

export function rawRow(cost: number, verifiesPerSecond: number): Row {
  return {
    scenario: `raw bcrypt verify, cost ${cost}, ${cores} threads`,
    figures: { rps: verifiesPerSecond, p50Ms: Number.NaN, p99Ms: Number.NaN, requests: 0, errors: 0 },
    note: "no service: @node-rs/bcrypt on every core",
  };
}
