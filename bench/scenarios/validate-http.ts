/** Scenario 3: ValidateToken over Connect (binary, JSON) and REST, beside an HTTP floor (GET /healthz). */

import { type Bench, log, row, withServerErrors } from "../lib/run.js";
import { failedCalls, type RunningService } from "../lib/service.js";
import { wrk } from "../lib/tools.js";

export async function validateOverHttp(
  bench: Bench,
  svc: RunningService,
  validateMessage: Uint8Array,
  validateJson: string,
): Promise<void> {
  const http = (path: string) => `${svc.baseUrl}${path}`;
  const jsonBody = Buffer.from(validateJson);
  for (const [name, url, headers, body] of [
    [
      "ValidateToken Connect binary",
      http("/auth.v1.AuthService/ValidateToken"),
      { "Content-Type": "application/proto" },
      Buffer.from(validateMessage),
    ],
    ["ValidateToken Connect JSON", http("/auth.v1.AuthService/ValidateToken"), { "Content-Type": "application/json" }, jsonBody],
    ["ValidateToken REST", http("/v1/auth/validate-token"), { "Content-Type": "application/json" }, jsonBody],
  ] as const) {
    const before = await failedCalls(svc, "ValidateToken");
    const observed = await bench.observe(svc, () => wrk({ url, method: "POST", headers, body, connections: 64, seconds: bench.seconds }));
    const serverErrors = (await failedCalls(svc, "ValidateToken")) - before;
    bench.rows.push(row(`${name}, 64 connections`, observed, withServerErrors(observed, serverErrors)));
    bench.peaks[name] = observed.peakMb;
    log(`${name}: ${observed.result.rps} req/s`);
  }
  const httpFloor = await bench.observe(svc, () =>
    wrk({ url: http("/healthz"), method: "GET", headers: {}, connections: 64, seconds: bench.seconds }),
  );
  bench.rows.push(row("floor (GET /healthz) HTTP/1.1, 64 connections", httpFloor));
}
