/** Scenario 5: Refresh over native gRPC, each seeded refresh token once (from the Node generator). */

import { type Bench, log, row, withServerErrors } from "../lib/run.js";
import type { SeededFiles } from "../lib/seed.js";
import { failedCalls, type RunningService } from "../lib/service.js";
import { generator } from "./validate-uncached.js";

export async function refreshOverGrpc(bench: Bench, svc: RunningService, files: SeededFiles): Promise<void> {
  const before = await failedCalls(svc, "Refresh");
  const refresh = await bench.observe(svc, generator(svc, bench, "/auth.v1.AuthService/Refresh", files.refresh, false));
  const errors = (await failedCalls(svc, "Refresh")) - before;
  bench.rows.push(row("Refresh gRPC, 64 concurrent (Node generator)", refresh, withServerErrors(refresh, errors)));
  bench.peaks.Refresh = refresh.peakMb;
  log(`Refresh: ${refresh.result.rps} req/s`);
}
