/**
 * Revocation seen on another instance, under load: two service processes (one worker each, so
 * that each is one cache) on the same PostgreSQL and Redis, both serving ValidateToken at 16
 * streams, while bench/load/revocation-probe.ts ends sessions on A and watches B refuse them.
 * Reports p50, p99 and the largest delay (targets: p99 ≤ 5 ms, max ≤ 50 ms).
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { type Bench, log, root } from "../lib/run.js";
import type { SeededFiles } from "../lib/seed.js";
import { type RunningService, startService } from "../lib/service.js";
import { round } from "../lib/stats.js";
import { grpcFrame, h2load } from "../lib/tools.js";

interface ProbeResult {
  readonly probes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly activeAfterReturn: number;
}

/** Runs the probe in a process of its own. */
function probe(a: RunningService, b: RunningService, tokensFile: string, probes: number): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const options = { a: a.grpcAddress, b: b.grpcAddress, tokensFile, probes, pollers: 2 };
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
  probes = 500,
): Promise<void> {
  const a = await startService(root, { ...(await env()), WORKERS: "1" }, join(bench.work, "service-a.log"));
  const b = await startService(root, { ...(await env()), WORKERS: "1" }, join(bench.work, "service-b.log"));
  try {
    const seconds = 600; // ended by the probe's end
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
    const observed = await bench.observe(b, () => probe(a, b, files.tokens, probes));
    void background; // h2load ends at its own deadline; the services stop under it below
    const result = observed.result;
    bench.rows.push({
      scenario: `revocation seen on instance B after a Logout on A (${result.probes} probes, both under ValidateToken load)`,
      figures: { rps: Number.NaN, p50Ms: result.p50Ms, p99Ms: result.p99Ms, requests: result.probes, errors: 0 },
      note: `max ${result.maxMs} ms; B answered ${result.activeAfterReturn} requests sent after the Logout returned as active`,
    });
    bench.ratios["revocation p99 ms"] = result.p99Ms;
    bench.ratios["revocation max ms"] = result.maxMs;
    bench.peaks["two instances, revocation probe"] = observed.peakMb;
    log(`revocation: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${round(result.maxMs)} ms`);
  } finally {
    await a.stop().catch(() => {});
    await b.stop().catch(() => {});
  }
}
