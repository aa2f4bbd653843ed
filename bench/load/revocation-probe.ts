/**
 * How long a revocation takes to reach another instance, as a caller sees it: for each seeded
 * session, instance B validates its access token (so B remembers the session), then keeps
 * validating it from `pollers` concurrent loops while the session is ended by a Logout on
 * instance A. The delay of one probe runs from the moment the Logout is sent to A to the moment
 * B's first REVOKED answer is received: an upper bound of the invalidation's journey (it includes
 * A's own work before it deletes the session, and one ValidateToken round trip on B).
 *
 * Also counted: answers "active" from B to requests sent after A's Logout had returned. Not a
 * broken promise by itself (the invalidation may still be on its way when the Logout's answer
 * arrives), but what a caller would see. And, for the scenario to compare with when the
 * invalidation reached B (B's log), when the last request B answered "active" was sent: one sent
 * after the invalidation reached B and answered "active" would be a broken promise.
 *
 * Then as many direct probes, which time the invalidation alone: B remembers a session, the probe
 * deletes its key in Redis with `MULTI DEL … TIME EXEC` (TIME: the server's clock when the deletion
 * ran, and with it the invalidation), and the scenario reads when B received it from B's bench log.
 *
 * argv[2]: JSON { a, b (host:port), tokensFile (one access token a line), offset (the first line
 * used; each probe ends its session), probes, pollers, redisUrl, prefix }
 */
import { readFileSync } from "node:fs";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { Redis } from "ioredis";
import {
  InactiveReason,
  LogoutRequestSchema,
  ValidateTokenRequestSchema,
  ValidateTokenResponseSchema,
} from "../../src/gen/auth/v1/auth_pb.js";
import { percentile, round } from "../lib/stats.js";

const options = JSON.parse(process.argv[2] ?? "{}") as {
  a: string;
  b: string;
  tokensFile: string;
  offset: number;
  probes: number;
  pollers: number;
  redisUrl: string;
  prefix: string;
};
const allTokens = readFileSync(options.tokensFile, "utf8").split("\n").filter(Boolean);
const tokens = allTokens.slice(options.offset, options.offset + options.probes);
const direct = allTokens.slice(options.offset + options.probes, options.offset + 2 * options.probes);
const identity = (value: Buffer) => value;
const a = new grpc.Client(options.a, grpc.credentials.createInsecure());
const b = new grpc.Client(options.b, grpc.credentials.createInsecure());

function call(client: grpc.Client, method: string, body: Uint8Array, metadata = new grpc.Metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(`/auth.v1.AuthService/${method}`, identity, identity, Buffer.from(body), metadata, (error, reply) =>
      error || reply === undefined ? reject(error ?? new Error("no reply")) : resolve(reply),
    );
  });
}

async function validateOnB(body: Uint8Array) {
  return fromBinary(ValidateTokenResponseSchema, await call(b, "ValidateToken", body));
}

/** The session key of a token. */
function sessionKey(token: string): string {
  const { sub, sid } = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString()) as { sub: string; sid: string };
  return `${options.prefix}{${sub}}:s:${sid}`;
}

/** This machine's clock in µs since the epoch (the one B logs with). */
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

/**
 * One probe: its delay in ms, B's "active" answers to requests sent after the Logout returned,
 * and when the last request B answered "active" was sent (µs since the epoch), to be compared
 * with when the invalidation reached B.
 */
async function probe(token: string): Promise<{ delayMs: number; activeAfterReturn: number; key: string; lastActiveSentUs: number }> {
  const body = toBinary(ValidateTokenRequestSchema, create(ValidateTokenRequestSchema, { token }));
  if (!(await validateOnB(body)).active) throw new Error("a seeded token does not validate on B");
  let seenAt: number | undefined;
  let returnedAt = Number.POSITIVE_INFINITY;
  let activeAfterReturn = 0;
  let lastActiveSentUs = 0;
  const deadline = performance.now() + 5000;
  const poll = async () => {
    while (seenAt === undefined && performance.now() < deadline) {
      const sentAt = performance.now();
      const sentUs = nowUs();
      const answer = await validateOnB(body);
      if (answer.active) {
        if (sentAt > returnedAt) activeAfterReturn++;
        lastActiveSentUs = Math.max(lastActiveSentUs, sentUs);
      } else if (answer.reason === InactiveReason.REVOKED) seenAt ??= performance.now();
      else throw new Error(`B answered ${InactiveReason[answer.reason]}`);
    }
  };
  const pollers = Array.from({ length: options.pollers }, poll);
  await new Promise((resolve) => setTimeout(resolve, 2));
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const sentAt = performance.now();
  await call(a, "Logout", toBinary(LogoutRequestSchema, create(LogoutRequestSchema, {})), metadata);
  returnedAt = performance.now();
  await Promise.all(pollers);
  if (seenAt === undefined) throw new Error("B still answered the session alive 5 s after its Logout");
  return { delayMs: seenAt - sentAt, activeAfterReturn, key: sessionKey(token), lastActiveSentUs };
}

/** A direct probe: the session's key and when Redis deleted it (µs since the epoch). */
async function deleteInRedis(redis: Redis, token: string): Promise<{ key: string; deletedAtUs: number }> {
  const body = toBinary(ValidateTokenRequestSchema, create(ValidateTokenRequestSchema, { token }));
  if (!(await validateOnB(body)).active) throw new Error("a seeded token does not validate on B");
  const key = sessionKey(token);
  const replies = (await redis.multi().del(key).time().exec()) ?? [];
  const [seconds, micros] = (replies[1]?.[1] as [string, string] | undefined) ?? ["0", "0"];
  await new Promise((resolve) => setTimeout(resolve, 5));
  return { key, deletedAtUs: Number(seconds) * 1e6 + Number(micros) };
}

const delays: number[] = [];
let activeAfterReturn = 0;
const lastActive: { key: string; lastActiveSentUs: number }[] = [];
for (const token of tokens) {
  const result = await probe(token);
  delays.push(result.delayMs);
  activeAfterReturn += result.activeAfterReturn;
  lastActive.push({ key: result.key, lastActiveSentUs: result.lastActiveSentUs });
}
const redis = new Redis(options.redisUrl);
const deletions: { key: string; deletedAtUs: number }[] = [];
for (const token of direct) deletions.push(await deleteInRedis(redis, token));
redis.disconnect();
a.close();
b.close();
const sorted = delays.sort((x, y) => x - y);
process.stdout.write(
  `${JSON.stringify({
    probes: sorted.length,
    p50Ms: round(percentile(sorted, 50), 3),
    p99Ms: round(percentile(sorted, 99), 3),
    maxMs: round(sorted.at(-1) ?? Number.NaN, 3),
    activeAfterReturn,
    lastActive,
    deletions,
  })}\n`,
);
