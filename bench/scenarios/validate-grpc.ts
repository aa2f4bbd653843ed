/**
 * Scenarios 1 and 2: ValidateToken over native gRPC at 1, 16, 64 and 256 concurrent streams, one
 * token (the usual case: a caller presents its user's token on every request), beside the floor (an
 * empty RPC on the same server). The two alternate in rounds (this machine is a VM whose speed
 * drifts) and the ratio is the median of the rounds' ratios.
 */

import { type Bench, combine, log, median, type Observed, row } from "../lib/run.js";
import { failedCalls, type RunningService } from "../lib/service.js";
import { type Figures, round } from "../lib/stats.js";
import { grpcFrame, h2load } from "../lib/tools.js";

/** Rounds of ValidateToken and its floor, alternating; each round lasts half a measurement. */
const ROUNDS = 3;

/** h2load's connections × streams for a concurrency: several connections, staggered so that the cluster spreads them evenly. */
const spread = (concurrency: number): [number, number] => (concurrency === 1 ? [1, 1] : [4, concurrency / 4]);

export async function validateOverGrpc(bench: Bench, svc: RunningService, validateMessage: Uint8Array): Promise<void> {
  const validateBody = grpcFrame(validateMessage);
  const emptyBody = grpcFrame(new Uint8Array());
  for (const concurrency of [1, 16, 64, 256]) {
    const [connections, streams] = spread(concurrency);
    const load = (path: string, body: Buffer) => () =>
      h2load({
        url: `http://${svc.grpcAddress}${path}`,
        body,
        connections,
        streams,
        seconds: bench.seconds / 2,
        warmupSeconds: 1,
        staggered: true,
      });
    const validateRounds: Observed<Figures>[] = [];
    const floorRounds: Observed<Figures>[] = [];
    const before = await failedCalls(svc, "ValidateToken");
    for (let r = 0; r < ROUNDS; r++) {
      validateRounds.push(await bench.observe(svc, load("/auth.v1.AuthService/ValidateToken", validateBody)));
      floorRounds.push(await bench.observe(svc, load("/auth.bench.v1.Bench/Empty", emptyBody)));
    }
    const serverErrors = (await failedCalls(svc, "ValidateToken")) - before;
    const validate = combine(validateRounds);
    const floor = combine(floorRounds);
    const ratio = median(validateRounds.map((v, r) => v.result.rps / (floorRounds[r] as Observed<Figures>).result.rps));
    bench.ratios[`validateToken/floor@${concurrency}`] = round(ratio);
    bench.rows.push(
      row(`ValidateToken gRPC, ${concurrency} streams`, validate, {
        figures: { ...validate.result, errors: validate.result.errors + serverErrors },
        note: `rounds: ${validateRounds.map((v) => v.result.rps).join(", ")} req/s`,
      }),
    );
    bench.rows.push(
      row(`floor (empty RPC) gRPC, ${concurrency} streams`, floor, {
        note: `rounds: ${floorRounds.map((f) => f.result.rps).join(", ")} req/s; ValidateToken / floor ${round(ratio)}`,
      }),
    );
    bench.peaks[`ValidateToken gRPC @${concurrency}`] = validate.peakMb;
    log(`ValidateToken @${concurrency}: ${validate.result.rps} req/s, floor ${floor.result.rps} req/s, ratio ${round(ratio)}`);
  }
}
