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
import { percentile, round } from "../lib/stats.js";
import { grpcFrame, h2load } from "../lib/tools.js";

interface ProbeResult {
  readonly probes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly activeAfterReturn: number;
  readonly deletions: readonly { readonly key: string; readonly deletedAtUs: number }[];
}

/** When B received each key's invalidation, from B's bench log (BENCH_FLOOR), in µs since the epoch. */
function arrivals(logFile: string): Map<string, number> {
  const arrived = new Map<string, number>();
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes("bench: session cache invalidation")) continue;
    const { keys, atUs } = JSON.parse(line) as { keys: string[] | null; atUs: number };
    for (const key of keys ?? []) if (!arrived.has(key)) arrived.set(key, atUs);
  }
  return arrived;
}

/** Runs the probe in a process of its own. */
function probe(
  a: RunningService,
  b: RunningService,
  tokensFile: string,
  probes: number,
  redis: { url: string; prefix: string },
): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const options = { a: a.grpcAddress, b: b.grpcAddress, tokensFile, probes, pollers: 2, redisUrl: redis.url, prefix: redis.prefix };
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

/**
 * `env(port)`: the service's environment on fresh ports; `files`: seeded sessions (the first
 * `probes` tokens are ended, the last one carries the background load).
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
  const redis = { url: envA.REDIS_URL ?? "", prefix: envA.REDIS_KEY_PREFIX ?? "" };
  try {
    // Long enough to cover the probes (a few ms each, tens under load); awaited before the services stop.
    const seconds = 25;
    const load = (svc: RunningService) =>
      h2load({
        url: `http://${svc.grpcAddress}/auth.v1.AuthService/ValidateToken`,
        body: grpcFrame(validateBody),
        connections: 4,
        streams: 4,
        seconds,
        warmupSeconds: 1,
      }).catch(() => undefined);
    const background = [load(a), load(b)];
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const observed = await bench.observe(b, () => probe(a, b, files.tokens, probes, redis));
    await Promise.all(background);
    const result = observed.result;
    const arrived = arrivals(join(bench.work, "service-b.log"));
    const invalidation = result.deletions.map(({ key, deletedAtUs }) => ((arrived.get(key) ?? Number.NaN) - deletedAtUs) / 1000);
    const sorted = invalidation.filter((d) => !Number.isNaN(d)).sort((x, y) => x - y);
    const lost = invalidation.length - sorted.length;
    bench.rows.push({
      scenario: `revocation seen on instance B after a Logout on A (${result.probes} probes, both under ValidateToken load)`,
      figures: { rps: Number.NaN, p50Ms: result.p50Ms, p99Ms: result.p99Ms, requests: result.probes, errors: 0 },
      note: `max ${result.maxMs} ms; B answered ${result.activeAfterReturn} requests sent after the Logout returned as active`,
    });
    bench.ratios["revocation seen p99 ms"] = result.p99Ms;
    bench.ratios["revocation seen max ms"] = result.maxMs;
    bench.rows.push({
      scenario: `an invalidation's journey: key deleted in Redis → received by instance B (${sorted.length} probes, under the same load)`,
      figures: {
        rps: Number.NaN,
        p50Ms: round(percentile(sorted, 50), 3),
        p99Ms: round(percentile(sorted, 99), 3),
        requests: sorted.length,
        errors: lost,
      },
      note: `max ${round(sorted.at(-1) ?? Number.NaN, 3)} ms; from Redis's TIME at the deletion to B's clock at its arrival (one machine, one clock)`,
    });
    bench.ratios["invalidation p99 ms"] = round(percentile(sorted, 99), 3);
    bench.ratios["invalidation max ms"] = round(sorted.at(-1) ?? Number.NaN, 3);
    bench.peaks["two instances, revocation probe"] = observed.peakMb;
    log(`revocation: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${round(result.maxMs)} ms`);
  } finally {
    await a.stop().catch(() => {});
    await b.stop().catch(() => {});
  }
}
