/**
 * Scenario 5: Refresh over native gRPC, each seeded refresh token once (from the Node generator),
 * with the service's CPU per call. With `--baseline <dir>` (a worktree of an earlier commit, its
 * dependencies installed), the same scenario also runs on that code, built and started with the
 * same environment on the same stores, right after ours: both rates from one machine state, and
 * their ratio (the target: ours ≥ 2× main's before the copy of the user and one round trip).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config.js";
import { type Bench, log, row, withServerErrors } from "../lib/run.js";
import { type SeededFiles, writeSeededBodies } from "../lib/seed.js";
import { failedCalls, type RunningService, startService } from "../lib/service.js";
import { round } from "../lib/stats.js";
import { generator } from "./validate-uncached.js";

async function refreshRow(bench: Bench, svc: RunningService, files: SeededFiles, label: string) {
  const before = await failedCalls(svc, "Refresh");
  const refresh = await bench.observe(svc, generator(svc, bench, "/auth.v1.AuthService/Refresh", files.refresh, false));
  const errors = (await failedCalls(svc, "Refresh")) - before;
  const added = row(`Refresh gRPC, 64 concurrent (Node generator)${label}`, refresh, withServerErrors(refresh, errors));
  bench.rows.push(added);
  return { rps: refresh.result.rps, cpuUs: added.serviceCpuUsPerCall, peakMb: refresh.peakMb };
}

export async function refreshOverGrpc(bench: Bench, svc: RunningService, files: SeededFiles): Promise<void> {
  const ours = await refreshRow(bench, svc, files, "");
  bench.peaks.Refresh = ours.peakMb;
  if (ours.cpuUs !== undefined) bench.ratios["refresh service CPU µs/call"] = ours.cpuUs;
  log(`Refresh: ${ours.rps} req/s, ${ours.cpuUs} µs of service CPU per call`);
}

/**
 * Refresh on the code in `dir`, on a service of its own with `env` (the stores ours used), beside
 * ours (`oursRps`). `email`: a user whose stored hash the seeded users share.
 */
export async function refreshOnBaseline(
  bench: Bench,
  dir: string,
  env: Record<string, string>,
  email: string,
  sessions: number,
  oursRps: number,
): Promise<void> {
  log(`building the baseline in ${dir} …`);
  execFileSync("npm", ["run", "--silent", "build"], { cwd: dir, stdio: "inherit" });
  const work = join(bench.work, "baseline");
  mkdirSync(work, { recursive: true });
  const files = await writeSeededBodies(loadConfig(env), email, sessions, work);
  const svc = await startService(dir, env, join(bench.work, "service-baseline.log"));
  try {
    const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: dir }).toString().trim();
    const baseline = await refreshRow(bench, svc, files, `, baseline ${commit}`);
    bench.peaks[`Refresh, baseline ${commit}`] = baseline.peakMb;
    bench.ratios["refresh/baseline"] = round(oursRps / baseline.rps);
    log(`Refresh on the baseline ${commit}: ${baseline.rps} req/s (ours / baseline ${round(oursRps / baseline.rps)})`);
  } finally {
    await svc.stop().catch(() => {});
  }
}
