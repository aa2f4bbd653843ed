/**
 * Scenario 1, uncached: 30,000 tokens in turn, more than TOKEN_CACHE_SIZE, so each call verifies a
 * signature; from the Node generator (each request differs), beside that generator's own ceiling.
 */

import { type Bench, log, nodeLoad, row, withServerErrors } from "../lib/run.js";
import type { SeededFiles } from "../lib/seed.js";
import { failedCalls, type RunningService } from "../lib/service.js";
import { round } from "../lib/stats.js";
import type { Es256Rates } from "./es256.js";

/** A load of the Node generator on `path`, one body per request from `bodiesFile`. */
export const generator = (svc: RunningService, bench: Bench, path: string, bodiesFile: string, reuse: boolean) => () =>
  nodeLoad({ address: svc.grpcAddress, path, bodiesFile, concurrency: 64, seconds: bench.seconds, channels: 4, reuse });

/**
 * `es256`: the raw rates, for the targets: this row ≥ 0.9 × the raw verify rate on every core, or
 * its service CPU per call within 30 µs of (raw verify CPU + the empty RPC's service CPU).
 */
export async function validateUncached(bench: Bench, svc: RunningService, files: SeededFiles, es256?: Es256Rates): Promise<void> {
  const generatorFloor = await bench.observe(svc, generator(svc, bench, "/auth.bench.v1.Bench/Empty", files.empty, true));
  const before = await failedCalls(svc, "ValidateToken");
  const cold = await bench.observe(svc, generator(svc, bench, "/auth.v1.AuthService/ValidateToken", files.validate, true));
  const coldErrors = (await failedCalls(svc, "ValidateToken")) - before;
  bench.rows.push(
    row("ValidateToken gRPC, 64 concurrent, 30,000 tokens in turn (Node generator)", cold, {
      ...withServerErrors(cold, coldErrors),
      note: "no token remembered: a signature check per call",
    }),
  );
  bench.rows.push(row("floor (empty RPC) gRPC, 64 concurrent (Node generator)", generatorFloor, { note: "the generator's own ceiling" }));
  bench.ratios["validateToken uncached/floor (Node generator)"] = round(cold.result.rps / generatorFloor.result.rps);
  if (es256 !== undefined) {
    const [coldRow, floorRow] = bench.rows.slice(-2);
    bench.ratios["validateToken uncached/raw ES256 verify rate"] = round(cold.result.rps / es256.nodeVerify.perSecond);
    const over = (coldRow?.serviceCpuUsPerCall ?? 0) - (floorRow?.serviceCpuUsPerCall ?? 0) - es256.nodeVerify.cpuUsPerOperation;
    bench.ratios["validateToken uncached CPU µs over (raw verify + empty RPC)"] = Math.round(over);
  }
  bench.peaks["ValidateToken gRPC, uncached"] = cold.peakMb;
  log(`ValidateToken, uncached: ${cold.result.rps} req/s (generator's ceiling ${generatorFloor.result.rps} req/s)`);
}
