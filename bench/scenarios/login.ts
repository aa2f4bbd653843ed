/** Scenario 4: Login over native gRPC at a BCRYPT_COST, beside raw bcrypt on every core, and login / raw. */
import { create, toBinary } from "@bufbuild/protobuf";
import { LoginRequestSchema } from "../../src/gen/auth/v1/auth_pb.js";
import { type Bench, log, rawBcrypt, rawRow, row, withServerErrors } from "../lib/run.js";
import { failedCalls, type RunningService } from "../lib/service.js";
import { round } from "../lib/stats.js";
import { grpcFrame, h2load } from "../lib/tools.js";

/** A load of Logins as `identifier`, on 4 connections × `streams`. */
export function loginLoad(svc: RunningService, identifier: string, password: string, seconds: number, streams: number) {
  const body = grpcFrame(toBinary(LoginRequestSchema, create(LoginRequestSchema, { identifier, password })));
  return () =>
    h2load({ url: `http://${svc.grpcAddress}/auth.v1.AuthService/Login`, body, connections: 4, streams, seconds, warmupSeconds: 1 });
}

/** 16 concurrent Logins for `seconds`, at the cost the service runs. */
export async function loginAtCost(
  bench: Bench,
  svc: RunningService,
  cost: number,
  credentials: { email: string; password: string },
  seconds: number,
) {
  const before = await failedCalls(svc, "Login");
  const login = await bench.observe(svc, loginLoad(svc, credentials.email, credentials.password, seconds, 4));
  const errors = (await failedCalls(svc, "Login")) - before;
  const raw = rawBcrypt(cost, bench.seconds);
  bench.rows.push(row(`Login gRPC, BCRYPT_COST ${cost}, 16 concurrent`, login, withServerErrors(login, errors)));
  bench.rows.push(rawRow(cost, raw));
  bench.ratios[`login/raw@${cost}`] = round(login.result.rps / raw);
  bench.peaks[`Login cost ${cost}`] = login.peakMb;
  log(`Login @${cost}: ${login.result.rps} req/s, raw bcrypt ${raw}/s`);
}
