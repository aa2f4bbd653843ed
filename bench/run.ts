/**
 * `npm run bench`: the service under load, beside the floors that bound it, in one run.
 *
 * Starts real PostgreSQL and Redis (as `npm test` does) and the compiled service in cluster mode
 * (WORKERS = the cores), seeds users, sessions and tokens, then loads it from separate processes
 * (h2load for gRPC, wrk for HTTP/1.1, a Node generator where requests must differ) and prints a
 * table; the figures go to bench/results/<date>.json. Scenarios, one file each in bench/scenarios/:
 *   1. ValidateToken over native gRPC at 1, 16, 64 and 256 concurrent streams, one token (the
 *      usual case: a caller presents its user's token on every request), and 30,000 tokens
 *      cycling (none remembered: every call checks a signature) (validate-grpc, validate-uncached);
 *   2. the floor: an empty RPC on the same gRPC server, and ValidateToken / floor (validate-grpc);
 *   3. ValidateToken over Connect (binary, JSON) and REST, beside an HTTP floor (validate-http);
 *   4. Login at BCRYPT_COST 10 and 12, beside raw bcrypt on every core, and login / raw (login);
 *   5. Refresh (each refresh token once) (refresh);
 *   6. ValidateToken's p99 during a login storm, against its p99 just before (isolation);
 *   7. memory: RSS per process at idle and at the peak of each load; Redis bytes per session
 *      (redis-memory);
 *   8. enumeration: existing vs unknown accounts, paired, by the time of one answer, on servers
 *      and a service of its own (enumeration);
 *   9. ValidateToken and Refresh on a Redis Cluster against a standalone Redis, and Refresh with
 *      REDIS_WAIT_REPLICAS=1, on servers and services of their own (redis-topologies);
 *  10. the raw ES256 rates on every core, node:crypto's one-shot primitive beside WebCrypto (es256);
 *  11. revocation seen on another instance, under load: two single-worker services (revocation).
 * Options: --seconds <n> per measurement (default 8), --workers <n> (default: the cores),
 * --only <scenario> (one of the names in parentheses above, or `tracing`: what OpenTelemetry costs
 * ValidateToken, off and on, not part of the full run; or `validate-baseline`: ValidateToken and the
 * floor on this code and on the --baseline worktree's, in interleaved rounds, one worker each unless
 * --workers says otherwise), --baseline <dir> (Refresh also on the code of that worktree, built
 * there, for a ratio from one machine state: scenarios/refresh.ts). `--only a,b,…` names several of
 * the main run's scenarios (1-7, 10, 11), run on one service in the full run's order, so that memory
 * peaks accumulate as in a full run.
 * BENCH_ENV (a JSON object) overrides the service's variables, BENCH_NODE_OPTIONS / BENCH_NODE_ARGS
 * its Node flags, BENCH_NODE_ARGS_FOR=<dir> limits BENCH_NODE_ARGS to the service built in <dir>
 * (this worktree or --baseline's), to compare flags on one code (BENCHMARKS.md).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { arch, cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import pg from "pg";
import { loadConfig } from "../src/config.js";
import { AuthService, ValidateTokenRequestSchema } from "../src/gen/auth/v1/auth_pb.js";
import { freePort, startPostgres, startRedis } from "../test/support/servers.js";
import { type Bench, cores, createBench, log, type Row, root } from "./lib/run.js";
import { writeSeededBodies } from "./lib/seed.js";
import { memoryMb, type RunningService, rssMb, startService, stealSeconds } from "./lib/service.js";
import { round } from "./lib/stats.js";
import { enumerationScenario } from "./scenarios/enumeration.js";
import { es256Raw } from "./scenarios/es256.js";
import { isolationFromLogins } from "./scenarios/isolation.js";
import { loginAtCost } from "./scenarios/login.js";
import { redisBytesPerSession } from "./scenarios/redis-memory.js";
import { redisTopologiesScenario } from "./scenarios/redis-topologies.js";
import { refreshOnBaseline, refreshOverGrpc } from "./scenarios/refresh.js";
import { revocationAcrossInstances } from "./scenarios/revocation.js";
import { tracingScenario } from "./scenarios/tracing.js";
import { validateAgainstBaseline } from "./scenarios/validate-baseline.js";
import { validateOverGrpc } from "./scenarios/validate-grpc.js";
import { validateOverHttp } from "./scenarios/validate-http.js";
import { validateUncached } from "./scenarios/validate-uncached.js";

const { values: args } = parseArgs({
  options: { seconds: { type: "string" }, workers: { type: "string" }, only: { type: "string" }, baseline: { type: "string" } },
});
const SEEDED_SESSIONS = 30_000;
/** Scenarios of the main run that `--only` may name (the others run on servers of their own). */
const MAIN_SCENARIOS = [
  "validate-grpc",
  "validate-http",
  "es256",
  "validate-uncached",
  "refresh",
  "login",
  "isolation",
  "redis-memory",
  "revocation",
];
/** `--only a,b` runs several of the main run's scenarios on one service, in the full run's order. */
const only = args.only?.split(",");
const want = (scenario: string) => only === undefined || only.includes(scenario);
const wantsMain = only === undefined || only.some((scenario) => MAIN_SCENARIOS.includes(scenario));
if (only !== undefined && only.length > 1 && !only.every((scenario) => MAIN_SCENARIOS.includes(scenario))) {
  throw new Error(`--only a,b,…: only the main run's scenarios can be listed together (${MAIN_SCENARIOS.join(", ")})`);
}

type Environment = (bcryptCost: number) => Promise<Record<string, string>>;

/** The tools the loads use, and the compiled service they load. */
function prepare(): void {
  execFileSync("bash", [join(root, "scripts", "install-bench-deps.sh")], { stdio: "inherit" });
  log("building the service (npm run build) …");
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const stealAtStart = stealSeconds();
  const work = mkdtempSync(join(tmpdir(), "auth-bench-"));
  const postgres = await startPostgres();
  const redis = await startRedis();
  const redisInfo = new Redis(redis.url);
  const bench = createBench({ seconds: Number(args.seconds ?? 8), workers: Number(args.workers ?? cores), work, redisInfo });
  try {
    const environment = await benchEnvironment(bench, postgres.url, redis.url);
    const { files, email, validateMessage } = await atProductionCost(bench, environment, redis.url);
    const env = await environment(12);
    if (args.baseline !== undefined && want("refresh")) {
      const ours = bench.rows.find((r) => r.scenario.startsWith("Refresh gRPC"))?.figures.rps ?? Number.NaN;
      await refreshOnBaseline(bench, args.baseline, env, email, SEEDED_SESSIONS, ours);
    }
    if (want("revocation")) {
      await revocationAcrossInstances(bench, () => environment(12), files, validateMessage);
    }
    if (want("login")) await atCost10(bench, environment);
    report(bench, startedAt, stealAtStart);
  } finally {
    redisInfo.disconnect();
    await redis.stop();
    await postgres.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

/** BENCH_ENV: a JSON object of the service's variables to override, for an experiment (BENCHMARKS.md). */
function overrides(): Record<string, string> {
  const parsed: unknown = JSON.parse(process.env.BENCH_ENV ?? "{}");
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== "string")) {
    throw new Error('BENCH_ENV must be a JSON object of strings, such as {"TOKEN_CACHE_SIZE":"0"}');
  }
  return parsed as Record<string, string>;
}

/** A database of its own, and the service's environment at a given bcrypt cost. */
async function benchEnvironment(bench: Bench, postgresUrl: string, redisUrl: string): Promise<Environment> {
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query("create database bench");
  await admin.end();
  const kek = randomBytes(32).toString("base64");
  return async (bcryptCost) => ({
    DATABASE_URL: postgresUrl.replace(/\/postgres$/, "/bench"),
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: "bench:",
    KEY_ENCRYPTION_KEY: kek,
    HOST: "127.0.0.1",
    GRPC_PORT: String(await freePort()),
    HTTP_PORT: String(await freePort()),
    METRICS_PORT: String(await freePort()),
    JWT_ISSUER: "https://auth.bench.example",
    // Required with DATABASE_URL: the benchmark's verification mail goes to a folder nobody reads.
    MAIL_OUTBOX_DIR: join(bench.work, "outbox"),
    BENCH_FLOOR: "true",
    // As in production: a line per call at info (ValidateToken's successes at debug).
    LOG_LEVEL: "info",
    BCRYPT_COST: String(bcryptCost),
    // The Login scenario signs one account in from one address, 16 at a time (and a storm beside
    // ValidateToken): the abuse limits let 5 attempts of one account and address, 20 of one account
    // be checked at once (docs/security.md, Abuse limits), so the rest would be refused in a millisecond and
    // the figure would not be bcrypt's.
    LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "1000000",
    LOGIN_MAX_FAILURES_PER_ACCOUNT: "1000000",
    LOGIN_MAX_FAILURES_PER_ADDRESS: "1000000",
    WORKERS: String(bench.workers),
    DATA_DIR: join(bench.work, "data"),
    ...overrides(),
  });
}

/** Registers and signs in a user of the benchmark; its credentials and an access token. */
async function benchUser(svc: RunningService, tag: string) {
  const auth = createClient(AuthService, createGrpcTransport({ baseUrl: `http://${svc.grpcAddress}` }));
  const email = `${tag}.${randomBytes(4).toString("hex")}@example.com`;
  const password = `bench-${randomBytes(12).toString("base64url")}`;
  await auth.register({ email, password });
  const { accessToken } = await auth.login({ identifier: email, password });
  if (!(await auth.validateToken({ token: accessToken })).active) throw new Error("the benchmark's access token does not validate");
  return { email, password, accessToken };
}

/** Scenarios 1, 2, 3, 4 (cost 12), 5, 6, 7 and 10 on a service at the production default cost (those `--only` wants). */
async function atProductionCost(bench: Bench, environment: Environment, redisUrl: string) {
  const env = await environment(12);
  const svc = await startService(root, env, join(bench.work, "service.log"));
  try {
    const user = await benchUser(svc, "bench");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    bench.memory.idleMb = Object.fromEntries(svc.pids().map((pid) => [pid, rssMb(pid)]));
    bench.memory.idlePrivateMb = Object.fromEntries(svc.pids().map((pid) => [pid, memoryMb(pid).private]));
    const request = create(ValidateTokenRequestSchema, { token: user.accessToken });
    const validateMessage = toBinary(ValidateTokenRequestSchema, request);
    if (want("validate-grpc")) await validateOverGrpc(bench, svc, validateMessage);
    if (want("validate-http")) await validateOverHttp(bench, svc, validateMessage, toJsonString(ValidateTokenRequestSchema, request));
    const rates = want("es256") || want("validate-uncached") ? es256Raw(bench) : undefined;
    log(`seeding ${SEEDED_SESSIONS} sessions and their tokens …`);
    const files = await writeSeededBodies(loadConfig(env), user.email, SEEDED_SESSIONS, bench.work);
    if (want("validate-uncached")) await validateUncached(bench, svc, files, rates);
    if (want("refresh")) await refreshOverGrpc(bench, svc, files);
    if (want("login")) await loginAtCost(bench, svc, 12, user, bench.seconds * 2);
    if (want("isolation")) await isolationFromLogins(bench, svc, validateMessage, user);
    if (want("redis-memory")) bench.memory.redisBytesPerSession = await redisBytesPerSession(redisUrl);
    return { files, email: user.email, validateMessage };
  } finally {
    await svc.stop().catch(() => {});
  }
}

/** Scenario 4 at cost 10, on a service of its own. */
async function atCost10(bench: Bench, environment: Environment): Promise<void> {
  const svc = await startService(root, await environment(10), join(bench.work, "service.log"));
  try {
    await loginAtCost(bench, svc, 10, await benchUser(svc, "bench10"), bench.seconds);
  } finally {
    await svc.stop().catch(() => {});
  }
}

/** Prints the table and writes bench/results/<date>.json; exit code 1 when any call failed. */
function report(bench: Bench, startedAt: number, stealAtStart: number): void {
  const { rows, ratios, memory, peaks } = bench;
  // The primary only forwards signals and metrics; the workers serve.
  memory.peakMb = peaks;
  memory.maxRssMb = Math.max(...Object.values(peaks).flatMap((byPid) => Object.values(byPid)));
  const machine = {
    cpu: cpus()[0]?.model ?? "unknown",
    cores,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
    arch: arch(),
    workers: bench.workers,
    bcryptThreadsPerWorker: Math.max(1, Math.floor(cores / bench.workers)),
  };
  const minutes = round((Date.now() - startedAt) / 60_000, 1);
  const stealPercent = round(((stealSeconds() - stealAtStart) / (((Date.now() - startedAt) / 1000) * cores)) * 100, 1);
  const date = new Date().toISOString().slice(0, 10);
  const result = { date, machine, minutes, stealPercent, secondsPerMeasurement: bench.seconds, rows, ratios, memory };
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  writeFileSync(join(root, "bench", "results", `${date}.json`), `${JSON.stringify(result, null, 2)}\n`);
  log("");
  log(table(rows));
  log("");
  log(`ratios: ${JSON.stringify(ratios)}`);
  log(`memory: ${JSON.stringify(memory)}`);
  log(`${minutes} minutes; the hypervisor took ${stealPercent}% of the cores (steal); written to bench/results/${date}.json`);
  const errors = rows.reduce((sum, r) => sum + r.figures.errors, 0);
  if (errors > 0) {
    log(`FAILED: ${errors} errors under load`);
    process.exitCode = 1;
  }
}

function table(rows: readonly Row[]): string {
  const cell = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? "" : String(n));
  const lines = [
    "| scenario | req/s | p50 ms | p99 ms | errors | service CPU µs/call | Redis CPU µs/call | note |",
    "|---|---:|---:|---:|---:|---:|---:|---|",
  ];
  for (const r of rows) {
    const f = r.figures;
    lines.push(
      `| ${r.scenario} | ${cell(f.rps)} | ${cell(f.p50Ms)} | ${cell(f.p99Ms)} | ${f.errors} | ${cell(r.serviceCpuUsPerCall)} | ${cell(r.redisCpuUsPerCall)} | ${r.note ?? ""} |`,
    );
  }
  return lines.join("\n");
}

if (wantsMain || args.only === "topologies") prepare();
if (wantsMain) await main();
if (args.only === undefined || args.only === "topologies") {
  const rows = await redisTopologiesScenario({ root, seconds: Number(args.seconds ?? 8), workers: Number(args.workers ?? cores) });
  log("");
  log(table(rows));
  if (rows.some((r) => r.figures.errors > 0)) process.exitCode = 1;
}
if (args.only === undefined || args.only === "enumeration") await enumerationScenario({ root, log });
if (args.only === "validate-baseline") {
  if (args.baseline === undefined) throw new Error("--only validate-baseline needs --baseline <worktree>");
  const rows = await validateAgainstBaseline({
    root,
    baseline: args.baseline,
    log,
    seconds: Number(args.seconds ?? 8),
    workers: Number(args.workers ?? 1),
  });
  const date = new Date().toISOString().slice(0, 10);
  writeFileSync(join(root, "bench", "results", `${date}-validate-baseline.json`), `${JSON.stringify({ date, rows }, null, 2)}\n`);
  if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
}
if (args.only === "tracing") {
  const rows = await tracingScenario({ root, log, seconds: Number(args.seconds ?? 8) });
  const date = new Date().toISOString().slice(0, 10);
  writeFileSync(join(root, "bench", "results", `${date}-tracing.json`), `${JSON.stringify({ date, rows }, null, 2)}\n`);
}
