/**
 * Revocation seen on another instance, under load: two service processes (one worker each, so
 * that each is one cache) on the same PostgreSQL and Redis, both serving ValidateToken at 16
 * streams, while bench/load/revocation-probe.ts ends sessions on A and watches B refuse them.
 * Reports p50, p99 and the largest delay (targets: p99 ≤ 5 ms, max ≤ 50 ms).
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Bench, log, root } from "../lib/run.js";
import type { SeededFiles } from "../lib/seed.js";
import { type RunningService, startService } from "../lib/service.js";
import { percentile, round as roundTo } from "../lib/stats.js";
import { grpcFrame, h2load } from "../lib/tools.js";

interface ProbeResult {
  readonly probes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly activeAfterReturn: number;
  /** Per Logout probe: when the last request B answered "active" was sent (µs since the epoch). */
  readonly lastActive: readonly { readonly key: string; readonly lastActiveSentUs: number }[];
  readonly deletions: readonly { readonly key: string; readonly deletedAtUs: number }[];
}

/**
 * When each key's invalidation reached B (its invalidation thread, from which B refuses the
 * session) and when B's event loop applied it, from B's bench log (BENCH_FLOOR), in µs since the
 * epoch. (A log without `appliedAtUs`, from code that received invalidations on the event loop:
 * both are `atUs`.)
 */
function arrivals(logFile: string): Map<string, { atUs: number; appliedAtUs: number }> {
  const arrived = new Map<string, { atUs: number; appliedAtUs: number }>();
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes("bench: session cache invalidation")) continue;
    const { keys, atUs, appliedAtUs } = JSON.parse(line) as { keys: string[] | null; atUs: number; appliedAtUs?: number };
    for (const key of keys ?? []) if (!arrived.has(key)) arrived.set(key, { atUs, appliedAtUs: appliedAtUs ?? atUs });
  }
  return arrived;
}

/** Runs the probe in a process of its own. */
function probe(
  a: RunningService,
  b: RunningService,
  tokensFile: string,
  offset: number,
  probes: number,
  redis: { url: string; prefix: string },
): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const options = {
      a: a.grpcAddress,
      b: b.grpcAddress,
      tokensFile,
      offset,
      probes,
      pollers: 2,
      redisUrl: redis.url,
      prefix: redis.prefix,
    };
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(root, "bench", "load", "revocation-probe.ts"), JSON.stringify(options)],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once("exit", (code) =>
      code === 0 ? resolve(JSON.parse(out) as ProbeResult) : reject(new Error(`revocation probe exited ${code}`)),
    );
  });
}

/** One round's figures: the probe's, the invalidations' delays (sorted) and how many never arrived. */
interface Round {
  readonly result: ProbeResult;
  readonly invalidation: number[];
  /** Deletion → B's event loop applied the invalidation (sorted): when its maps let go, not when it is refused. */
  readonly applied: number[];
  /** Requests sent after the invalidation had reached B, and answered "active" (the promise: none). */
  readonly activeAfterArrival: number;
  /** Logout probes whose invalidation's arrival B did not log. */
  readonly unlogged: number;
  readonly lost: number;
  /** What instance B answered per second under the background load. */
  readonly loadRps: number;
  readonly peakMb: Record<string, number>;
}

interface Pair {
  readonly a: RunningService;
  readonly b: RunningService;
  readonly redis: { url: string; prefix: string };
}

/** A round of probes (sessions `offset`… of the seeded tokens) under ValidateToken load on both instances, `rps` each or flat out. */
async function round(
  bench: Bench,
  pair: Pair,
  files: SeededFiles,
  validateBody: Uint8Array,
  probes: number,
  offset: number,
  rps?: number,
): Promise<Round> {
  const { a, b } = pair;
  // Long enough to cover the probes (a few ms each, tens under load); awaited before the next round.
  const seconds = 25;
  const load = (svc: RunningService) =>
    h2load({
      url: `http://${svc.grpcAddress}/auth.v1.AuthService/ValidateToken`,
      body: grpcFrame(validateBody),
      connections: 4,
      streams: 4,
      seconds,
      warmupSeconds: 1,
      ...(rps === undefined ? {} : { rps }),
    }).catch(() => undefined);
  const background = [load(a), load(b)];
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const observed = await bench.observe(b, () => probe(a, b, files.tokens, offset, probes, pair.redis));
  const [, onB] = await Promise.all(background);
  const result = observed.result;
  const arrived = arrivals(join(bench.work, "service-b.log"));
  const delays = result.deletions.map(({ key, deletedAtUs }) => ((arrived.get(key)?.atUs ?? Number.NaN) - deletedAtUs) / 1000);
  const invalidation = delays.filter((d) => !Number.isNaN(d)).sort((x, y) => x - y);
  const applied = result.deletions
    .map(({ key, deletedAtUs }) => ((arrived.get(key)?.appliedAtUs ?? Number.NaN) - deletedAtUs) / 1000)
    .filter((d) => !Number.isNaN(d))
    .sort((x, y) => x - y);
  let activeAfterArrival = 0;
  let unlogged = 0;
  for (const { key, lastActiveSentUs } of result.lastActive ?? []) {
    const at = arrived.get(key)?.atUs;
    if (at === undefined) unlogged += 1;
    else if (lastActiveSentUs > at) activeAfterArrival += 1;
  }
  return {
    result,
    invalidation,
    applied,
    activeAfterArrival,
    unlogged,
    lost: delays.length - invalidation.length,
    loadRps: onB?.rps ?? Number.NaN,
    peakMb: observed.peakMb,
  };
}

/** The round's two rows and its ratios (named with `suffix`). */
function report(bench: Bench, round: Round, load: string, suffix: string): void {
  const { result, invalidation, applied, lost, loadRps, activeAfterArrival, unlogged } = round;
  bench.rows.push({
    scenario: `revocation seen on instance B after a Logout on A (${result.probes} probes, ${load})`,
    figures: { rps: Number.NaN, p50Ms: result.p50Ms, p99Ms: result.p99Ms, requests: result.probes, errors: 0 },
    note: `max ${result.maxMs} ms; B answered ${result.activeAfterReturn} requests sent after the Logout returned as active, and ${activeAfterArrival} sent after the invalidation had reached it (${unlogged} arrivals not logged); B served ${Math.round(loadRps)} req/s of background load`,
  });
  bench.ratios[`revocation seen p99 ms${suffix}`] = result.p99Ms;
  bench.ratios[`revocation seen max ms${suffix}`] = result.maxMs;
  bench.ratios[`active after the invalidation reached B${suffix}`] = activeAfterArrival;
  bench.rows.push({
    scenario: `an invalidation's journey: key deleted in Redis → received by instance B (${invalidation.length} probes, ${load})`,
    figures: {
      rps: Number.NaN,
      p50Ms: round2(percentile(invalidation, 50)),
      p99Ms: round2(percentile(invalidation, 99)),
      requests: invalidation.length,
      errors: lost,
    },
    note: `max ${round2(invalidation.at(-1) ?? Number.NaN)} ms; from Redis's TIME at the deletion to B's clock at its arrival, when B refuses the session from (one machine, one clock)`,
  });
  bench.ratios[`invalidation p99 ms${suffix}`] = round2(percentile(invalidation, 99));
  bench.ratios[`invalidation max ms${suffix}`] = round2(invalidation.at(-1) ?? Number.NaN);
  bench.rows.push({
    scenario: `… and applied by B's event loop (its maps let go; the session was refused from its arrival) (${applied.length} probes, ${load})`,
    figures: {
      rps: Number.NaN,
      p50Ms: round2(percentile(applied, 50)),
      p99Ms: round2(percentile(applied, 99)),
      requests: applied.length,
      errors: 0,
    },
    note: `max ${round2(applied.at(-1) ?? Number.NaN)} ms`,
  });
  log(`revocation (${load}): p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${round2(result.maxMs)} ms`);
}

const round2 = (value: number) => roundTo(value, 3);

/**
 * `env(port)`: the service's environment on fresh ports; `files`: seeded sessions (each round
 * ends 2 × `probes` of them); `validateBody`: the background load's request. Two rounds: both instances
 * loaded flat out (each event loop always has work queued, and the two services, the two loads,
 * the probe and Redis share the cores), then at half the rate B answered flat out: busy instances
 * with headroom, as a fleet is run.
 */
export async function revocationAcrossInstances(
  bench: Bench,
  env: () => Promise<Record<string, string>>,
  files: SeededFiles,
  validateBody: Uint8Array,
  probes = 300,
): Promise<void> {
  const envA: Record<string, string> = { ...(await env()), WORKERS: "1" };
  const a = await startService(root, envA, join(bench.work, "service-a.log"));
  const b = await startService(root, { ...(await env()), WORKERS: "1" }, join(bench.work, "service-b.log"));
  const pair: Pair = { a, b, redis: { url: envA.REDIS_URL ?? "", prefix: envA.REDIS_KEY_PREFIX ?? "" } };
  try {
    const flatOut = await round(bench, pair, files, validateBody, probes, 0);
    report(bench, flatOut, "both under ValidateToken load flat out", "");
    bench.peaks["two instances, revocation probe"] = flatOut.peakMb;
    const rps = Math.round(flatOut.loadRps / 2);
    // Without a rate from the first round (its load failed), a second round would run unloaded.
    if (!Number.isFinite(rps) || rps < 1) throw new Error("revocation: the flat-out round's background load reported no rate");
    const paced = await round(bench, pair, files, validateBody, probes, 2 * probes, rps);
    report(bench, paced, `both under ValidateToken load at ${rps} req/s each, half of flat out`, " at half load");
  } finally {
    await a.stop().catch(() => {});
    await b.stop().catch(() => {});
  }
}
