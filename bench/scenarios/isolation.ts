/** Scenario 6: ValidateToken's p99 just before and during a login storm (32 logins at once). */

import { type Bench, log, row } from "../lib/run.js";
import { failedCalls, type RunningService } from "../lib/service.js";
import { round } from "../lib/stats.js";
import { grpcFrame, h2load } from "../lib/tools.js";
import { loginLoad } from "./login.js";

export async function isolationFromLogins(
  bench: Bench,
  svc: RunningService,
  validateMessage: Uint8Array,
  credentials: { email: string; password: string },
): Promise<void> {
  const body = grpcFrame(validateMessage);
  const validate16 = () =>
    h2load({
      url: `http://${svc.grpcAddress}/auth.v1.AuthService/ValidateToken`,
      body,
      connections: 4,
      streams: 4,
      seconds: bench.seconds,
      warmupSeconds: 1,
    });
  const loginsBefore = await failedCalls(svc, "Login");
  const idle = await bench.observe(svc, validate16);
  const storm = loginLoad(svc, credentials.email, credentials.password, bench.seconds + 5, 8)();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const during = await bench.observe(svc, validate16);
  const stormFigures = await storm;
  const loginErrors = (await failedCalls(svc, "Login")) - loginsBefore;
  bench.rows.push(row("ValidateToken gRPC, 16 streams, just before the storm", idle));
  bench.rows.push(
    row("ValidateToken gRPC, 16 streams, during a login storm", during, { note: `p99 ${round(during.result.p99Ms / idle.result.p99Ms)}x` }),
  );
  bench.rows.push({
    scenario: "  the login storm (32 concurrent)",
    figures: { ...stormFigures, errors: stormFigures.errors + loginErrors },
  });
  bench.ratios["isolation p99 storm/idle"] = round(during.result.p99Ms / idle.result.p99Ms);
  bench.peaks["ValidateToken during a login storm"] = during.peakMb;
  log(`isolation: p99 ${idle.result.p99Ms} ms before, ${during.result.p99Ms} ms during the storm`);
}
