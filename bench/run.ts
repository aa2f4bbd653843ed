/**
 * `npm run bench`: the service under load, beside the floors that bound it, in one run.
 *
 * Starts real PostgreSQL and Redis (as `npm test` does) and the compiled service in cluster mode
 * (WORKERS = the cores), seeds users, sessions and tokens, then loads it from separate processes
 * (h2load for gRPC, wrk for HTTP/1.1, a Node generator where requests must differ) and prints a
 * table; the figures go to bench/results/<date>.json. Scenarios:
 *   1. ValidateToken over native gRPC at 1, 16, 64 and 256 concurrent streams, one token (the
 *      usual case: a caller presents its user's token on every request), and 30,000 tokens
 *      cycling (none remembered: every call checks a signature);
 *   2. the floor: an empty RPC on the same gRPC server, and ValidateToken / floor; the two
 *      alternate in rounds (this machine is a VM whose speed drifts) and the ratio is the median
 *      of the rounds' ratios;
 *   3. ValidateToken over Connect (binary, JSON) and REST, beside an HTTP floor (GET /healthz);
 *   4. Login at BCRYPT_COST 10 and 12, beside raw bcrypt on every core, and login / raw;
 *   5. Refresh (each refresh token once);
 *   6. ValidateToken's p99 during a login storm, against its p99 just before;
 *   7. memory: RSS per process at idle and at the peak of each load; Redis bytes per session.
 * Options: --seconds <n> per measurement (default 8), --workers <n> (default: the cores).
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { arch, availableParallelism, cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary, toJsonString } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import pg from "pg";
import { loadConfig } from "../src/config.js";
import { hashSecret, newSecret, newSessionId } from "../src/domain/refresh-token.js";
import { AuthService, LoginRequestSchema, ValidateTokenRequestSchema } from "../src/gen/auth/v1/auth_pb.js";
import { createSessionStore } from "../src/infra/redis/sessions.js";
import { freePort, startPostgres, startRedis } from "../test/support/servers.js";
import { seedSessions } from "./lib/seed.js";
import { cpuSeconds, failedCalls, peakRss, type RunningService, rssMb, startService, stealSeconds } from "./lib/service.js";
import { type Figures, round } from "./lib/stats.js";
import { grpcFrame, h2load, wrk } from "./lib/tools.js";

const root = join(import.meta.dirname, "..");
const { values: args } = parseArgs({ options: { seconds: { type: "string" }, workers: { type: "string" } } });
const SECONDS = Number(args.seconds ?? 8);
const cores = availableParallelism();
const WORKERS = Number(args.workers ?? cores);
/** Rounds of ValidateToken and its floor, alternating; each round lasts half a measurement. */
const ROUNDS = 3;
const SEEDED_SESSIONS = 30_000;

const log = (text: string) => process.stdout.write(`${text}\n`);

/** h2load's connections × streams for a concurrency: several connections so the cluster spreads them. */
const spread = (concurrency: number): [number, number] => (concurrency === 1 ? [1, 1] : [4, concurrency / 4]);

interface Row {
  readonly scenario: string;
  readonly figures: Figures;
  /** CPU the service's processes (every thread) spent per call, in µs. */
  readonly serviceCpuUsPerCall?: number;
  /** CPU Redis spent per call, in µs. */
  readonly redisCpuUsPerCall?: number;
  /** Share of the cores the hypervisor gave to others during the measurement, in %. */
  readonly stealPercent?: number;
  readonly note?: string;
}

interface Observed<T> {
  readonly result: T;
  readonly peakMb: Record<number, number>;
  readonly serviceCpu: number;
  readonly redisCpu: number;
  readonly stealPercent: number;
  /** How long the load ran, warm-up included (the CPU figures cover it all). */
  readonly seconds: number;
}

async function main(): Promise<void> {
  execFileSync("bash", [join(root, "scripts", "install-bench-deps.sh")], { stdio: "inherit" });
  log("building the service (npm run build) …");
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: "inherit" });

  const startedAt = Date.now();
  const stealAtStart = stealSeconds();
  const work = mkdtempSync(join(tmpdir(), "auth-bench-"));
  const serviceLog = join(work, "service.log");
  const postgres = await startPostgres();
  const redis = await startRedis();
  const redisInfo = new Redis(redis.url);
  const rows: Row[] = [];
  const ratios: Record<string, number> = {};
  const peaks: Record<string, Record<number, number>> = {};
  const memory: Record<string, unknown> = {};
  let service: RunningService | undefined;

  /** Runs `load` while sampling RSS, and the CPU of the service and of Redis, and steal. */
  async function observe<T>(svc: RunningService, load: () => Promise<T>): Promise<Observed<T>> {
    const pids = svc.pids();
    const redisCpu = async () => {
      const info = await redisInfo.info("cpu");
      return Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1]);
    };
    const service0 = pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    const redis0 = await redisCpu();
    const steal0 = stealSeconds();
    const t0 = performance.now();
    const { result, peakMb } = await peakRss(svc, load);
    const seconds = (performance.now() - t0) / 1000;
    return {
      result,
      peakMb,
      serviceCpu: pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - service0,
      redisCpu: (await redisCpu()) - redis0,
      stealPercent: round(((stealSeconds() - steal0) / (seconds * cores)) * 100, 1),
      seconds,
    };
  }

  /** A row from an observed load; CPU per call over the whole load, warm-up included, at its rate. */
  function row(scenario: string, observed: Observed<Figures>, extra: Partial<Row> = {}): Row {
    const calls = observed.result.rps * observed.seconds;
    return {
      scenario,
      figures: observed.result,
      serviceCpuUsPerCall: calls > 0 ? Math.round((observed.serviceCpu / calls) * 1e6) : undefined,
      redisCpuUsPerCall: calls > 0 ? Math.round((observed.redisCpu / calls) * 1e6) : undefined,
      stealPercent: observed.stealPercent,
      ...extra,
    };
  }

  try {
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query("create database bench");
    await admin.end();
    const kek = randomBytes(32).toString("base64");
    const environment = async (bcryptCost: number): Promise<Record<string, string>> => ({
      DATABASE_URL: postgres.url.replace(/\/postgres$/, "/bench"),
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: "bench:",
      KEY_ENCRYPTION_KEY: kek,
      HOST: "127.0.0.1",
      GRPC_PORT: String(await freePort()),
      HTTP_PORT: String(await freePort()),
      JWT_ISSUER: "https://auth.bench.example",
      // Required with DATABASE_URL: the benchmark's verification mail goes to a folder nobody reads.
      MAIL_OUTBOX_DIR: join(work, "outbox"),
      BENCH_FLOOR: "true",
      // As in production: a line per call at info (ValidateToken's successes at debug).
      LOG_LEVEL: "info",
      BCRYPT_COST: String(bcryptCost),
      WORKERS: String(WORKERS),
      DATA_DIR: join(work, "data"),
    });

    // ---- The service at the production default cost (12) ------------------------------------
    const env12 = await environment(12);
    service = await startService(root, env12, serviceLog);
    const svc = service;
    const auth = createClient(AuthService, createGrpcTransport({ baseUrl: `http://${svc.grpcAddress}` }));
    const email = `bench.${randomBytes(4).toString("hex")}@example.com`;
    const password = `bench-${randomBytes(12).toString("base64url")}`;
    await auth.register({ email, password });
    const { accessToken } = await auth.login({ identifier: email, password });
    if (!(await auth.validateToken({ token: accessToken })).active) throw new Error("the benchmark's access token does not validate");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    memory.idleMb = Object.fromEntries(svc.pids().map((pid) => [pid, rssMb(pid)]));

    const validateMessage = toBinary(ValidateTokenRequestSchema, create(ValidateTokenRequestSchema, { token: accessToken }));
    const validateBody = grpcFrame(validateMessage);
    const emptyBody = grpcFrame(new Uint8Array());
    const grpcUrl = (path: string) => `http://${svc.grpcAddress}${path}`;

    // 1 and 2: ValidateToken over gRPC beside the floor, alternating.
    for (const concurrency of [1, 16, 64, 256]) {
      const [connections, streams] = spread(concurrency);
      const load = (path: string, body: Buffer) => () =>
        h2load({ url: grpcUrl(path), body, connections, streams, seconds: SECONDS / 2, warmupSeconds: 1 });
      const validateRounds: Observed<Figures>[] = [];
      const floorRounds: Observed<Figures>[] = [];
      const before = await failedCalls(svc, "ValidateToken");
      for (let r = 0; r < ROUNDS; r++) {
        validateRounds.push(await observe(svc, load("/auth.v1.AuthService/ValidateToken", validateBody)));
        floorRounds.push(await observe(svc, load("/auth.bench.v1.Bench/Empty", emptyBody)));
      }
      const serverErrors = (await failedCalls(svc, "ValidateToken")) - before;
      const validate = combine(validateRounds);
      const floor = combine(floorRounds);
      const ratio = median(validateRounds.map((v, r) => v.result.rps / (floorRounds[r] as Observed<Figures>).result.rps));
      ratios[`validateToken/floor@${concurrency}`] = round(ratio);
      rows.push(
        row(`ValidateToken gRPC, ${concurrency} streams`, validate, {
          figures: { ...validate.result, errors: validate.result.errors + serverErrors },
          note: `rounds: ${validateRounds.map((v) => v.result.rps).join(", ")} req/s`,
        }),
      );
      rows.push(
        row(`floor (empty RPC) gRPC, ${concurrency} streams`, floor, {
          note: `rounds: ${floorRounds.map((f) => f.result.rps).join(", ")} req/s; ValidateToken / floor ${round(ratio)}`,
        }),
      );
      peaks[`ValidateToken gRPC @${concurrency}`] = validate.peakMb;
      log(`ValidateToken @${concurrency}: ${validate.result.rps} req/s, floor ${floor.result.rps} req/s, ratio ${round(ratio)}`);
    }

    // 3: ValidateToken on the HTTP port.
    const http = (path: string) => `${svc.baseUrl}${path}`;
    const jsonBody = Buffer.from(toJsonString(ValidateTokenRequestSchema, create(ValidateTokenRequestSchema, { token: accessToken })));
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
      const observed = await observe(svc, () => wrk({ url, method: "POST", headers, body, connections: 64, seconds: SECONDS }));
      const serverErrors = (await failedCalls(svc, "ValidateToken")) - before;
      rows.push(
        row(`${name}, 64 connections`, observed, { figures: { ...observed.result, errors: observed.result.errors + serverErrors } }),
      );
      peaks[name] = observed.peakMb;
      log(`${name}: ${observed.result.rps} req/s`);
    }
    const httpFloor = await observe(svc, () =>
      wrk({ url: http("/healthz"), method: "GET", headers: {}, connections: 64, seconds: SECONDS }),
    );
    rows.push(row("floor (GET /healthz) HTTP/1.1, 64 connections", httpFloor));

    // Seeded sessions and tokens, for the scenarios where every request must differ.
    const config12 = loadConfig(env12);
    const seedRedis = new Redis(redis.url);
    const templateHash = await passwordHashOf(config12, email);
    log(`seeding ${SEEDED_SESSIONS} sessions and their tokens …`);
    const seeded = await seedSessions(config12, seedRedis, templateHash, SEEDED_SESSIONS);
    seedRedis.disconnect();
    const validateFile = join(work, "validate-bodies.txt");
    const refreshFile = join(work, "refresh-bodies.txt");
    const emptyFile = join(work, "empty-bodies.txt");
    writeFileSync(validateFile, seeded.validateBodies.join("\n"));
    writeFileSync(refreshFile, seeded.refreshBodies.join("\n"));
    // The empty RPC ignores its body: any bytes do.
    writeFileSync(emptyFile, Array.from({ length: 1000 }, () => "AA==").join("\n"));

    // 1 (uncached): 30,000 tokens in turn, more than TOKEN_CACHE_SIZE: each call verifies a signature.
    const generator = (path: string, bodiesFile: string, reuse: boolean) => () =>
      nodeLoad({ address: svc.grpcAddress, path, bodiesFile, concurrency: 64, seconds: SECONDS, channels: 4, reuse });
    const generatorFloor = await observe(svc, generator("/auth.bench.v1.Bench/Empty", emptyFile, true));
    const before = await failedCalls(svc, "ValidateToken");
    const cold = await observe(svc, generator("/auth.v1.AuthService/ValidateToken", validateFile, true));
    const coldErrors = (await failedCalls(svc, "ValidateToken")) - before;
    rows.push(
      row("ValidateToken gRPC, 64 concurrent, 30,000 tokens in turn (Node generator)", cold, {
        figures: { ...cold.result, errors: cold.result.errors + coldErrors },
        note: "no token remembered: a signature check per call",
      }),
    );
    rows.push(row("floor (empty RPC) gRPC, 64 concurrent (Node generator)", generatorFloor, { note: "the generator's own ceiling" }));
    ratios["validateToken uncached/floor (Node generator)"] = round(cold.result.rps / generatorFloor.result.rps);
    peaks["ValidateToken gRPC, uncached"] = cold.peakMb;
    log(`ValidateToken, uncached: ${cold.result.rps} req/s (generator's ceiling ${generatorFloor.result.rps} req/s)`);

    // 5: Refresh, each refresh token once.
    const refreshBefore = await failedCalls(svc, "Refresh");
    const refresh = await observe(svc, generator("/auth.v1.AuthService/Refresh", refreshFile, false));
    const refreshErrors = (await failedCalls(svc, "Refresh")) - refreshBefore;
    rows.push(
      row("Refresh gRPC, 64 concurrent (Node generator)", refresh, {
        figures: { ...refresh.result, errors: refresh.result.errors + refreshErrors },
      }),
    );
    peaks.Refresh = refresh.peakMb;
    log(`Refresh: ${refresh.result.rps} req/s`);

    // 4 (cost 12): Login beside raw bcrypt.
    const loginBody = grpcFrame(toBinary(LoginRequestSchema, create(LoginRequestSchema, { identifier: email, password })));
    const loginLoad = (seconds: number, streams: number) => () =>
      h2load({ url: grpcUrl("/auth.v1.AuthService/Login"), body: loginBody, connections: 4, streams, seconds, warmupSeconds: 1 });
    const loginBefore = await failedCalls(svc, "Login");
    const login12 = await observe(svc, loginLoad(SECONDS * 2, 4));
    const raw12 = rawBcrypt(12, SECONDS);
    rows.push(row("Login gRPC, BCRYPT_COST 12, 16 concurrent", login12));
    rows.push(rawRow(12, raw12));
    ratios["login/raw@12"] = round(login12.result.rps / raw12);
    peaks["Login cost 12"] = login12.peakMb;
    log(`Login @12: ${login12.result.rps} req/s, raw bcrypt ${raw12}/s`);

    // 6: ValidateToken's p99 just before and during a login storm (32 logins at once).
    const validate16 = () =>
      h2load({
        url: grpcUrl("/auth.v1.AuthService/ValidateToken"),
        body: validateBody,
        connections: 4,
        streams: 4,
        seconds: SECONDS,
        warmupSeconds: 1,
      });
    const idle = await observe(svc, validate16);
    const storm = loginLoad(SECONDS + 5, 8)();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const during = await observe(svc, validate16);
    const stormFigures = await storm;
    const loginErrors = (await failedCalls(svc, "Login")) - loginBefore;
    rows.push(row("ValidateToken gRPC, 16 streams, just before the storm", idle));
    rows.push(
      row("ValidateToken gRPC, 16 streams, during a login storm", during, {
        note: `p99 ${round(during.result.p99Ms / idle.result.p99Ms)}x`,
      }),
    );
    rows.push({ scenario: "  the login storm (32 concurrent)", figures: { ...stormFigures, errors: stormFigures.errors + loginErrors } });
    ratios["isolation p99 storm/idle"] = round(during.result.p99Ms / idle.result.p99Ms);
    peaks["ValidateToken during a login storm"] = during.peakMb;
    log(`isolation: p99 ${idle.result.p99Ms} ms before, ${during.result.p99Ms} ms during the storm`);

    // 7: Redis bytes per session.
    memory.redisBytesPerSession = await redisBytesPerSession(redis.url);
    await service.stop();
    service = undefined;

    // 4 (cost 10): a service at cost 10.
    service = await startService(root, await environment(10), serviceLog);
    const svc10 = service;
    const auth10 = createClient(AuthService, createGrpcTransport({ baseUrl: `http://${svc10.grpcAddress}` }));
    const email10 = `bench10.${randomBytes(4).toString("hex")}@example.com`;
    await auth10.register({ email: email10, password });
    const loginBody10 = grpcFrame(toBinary(LoginRequestSchema, create(LoginRequestSchema, { identifier: email10, password })));
    const login10Before = await failedCalls(svc10, "Login");
    const login10 = await observe(svc10, () =>
      h2load({
        url: `http://${svc10.grpcAddress}/auth.v1.AuthService/Login`,
        body: loginBody10,
        connections: 4,
        streams: 4,
        seconds: SECONDS,
        warmupSeconds: 1,
      }),
    );
    const login10Errors = (await failedCalls(svc10, "Login")) - login10Before;
    const raw10 = rawBcrypt(10, SECONDS);
    rows.push(
      row("Login gRPC, BCRYPT_COST 10, 16 concurrent", login10, {
        figures: { ...login10.result, errors: login10.result.errors + login10Errors },
      }),
    );
    rows.push(rawRow(10, raw10));
    ratios["login/raw@10"] = round(login10.result.rps / raw10);
    peaks["Login cost 10"] = login10.peakMb;
    log(`Login @10: ${login10.result.rps} req/s, raw bcrypt ${raw10}/s`);
    await service.stop();
    service = undefined;

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
      workers: WORKERS,
      bcryptThreadsPerWorker: Math.max(1, Math.floor(cores / WORKERS)),
    };
    const minutes = round((Date.now() - startedAt) / 60_000, 1);
    const stealPercent = round(((stealSeconds() - stealAtStart) / (((Date.now() - startedAt) / 1000) * cores)) * 100, 1);
    const date = new Date().toISOString().slice(0, 10);
    const result = { date, machine, minutes, stealPercent, secondsPerMeasurement: SECONDS, rows, ratios, memory };
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
  } finally {
    await service?.stop().catch(() => {});
    redisInfo.disconnect();
    await redis.stop();
    await postgres.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

/** The figures of several rounds as one: median rate and percentiles, summed counts; the largest RSS. */
function combine(rounds: readonly Observed<Figures>[]): Observed<Figures> {
  const peakMb: Record<number, number> = {};
  for (const r of rounds) for (const [pid, mb] of Object.entries(r.peakMb)) peakMb[Number(pid)] = Math.max(peakMb[Number(pid)] ?? 0, mb);
  return {
    result: {
      rps: median(rounds.map((r) => r.result.rps)),
      p50Ms: median(rounds.map((r) => r.result.p50Ms)),
      p99Ms: median(rounds.map((r) => r.result.p99Ms)),
      requests: rounds.reduce((sum, r) => sum + r.result.requests, 0),
      errors: rounds.reduce((sum, r) => sum + r.result.errors, 0),
    },
    peakMb,
    serviceCpu: rounds.reduce((sum, r) => sum + r.serviceCpu, 0),
    redisCpu: rounds.reduce((sum, r) => sum + r.redisCpu, 0),
    stealPercent: round(rounds.reduce((sum, r) => sum + r.stealPercent, 0) / rounds.length, 1),
    seconds: rounds.reduce((sum, r) => sum + r.seconds, 0),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The stored hash of a user, to give seeded users a real one. */
async function passwordHashOf(config: ReturnType<typeof loadConfig>, email: string): Promise<string> {
  const client = new pg.Client({ connectionString: config.databaseUrl });
  await client.connect();
  try {
    const result = await client.query<{ password_hash: string }>("select password_hash from users where email = $1", [email]);
    return result.rows[0]?.password_hash ?? "";
  } finally {
    await client.end();
  }
}

function rawRow(cost: number, verifiesPerSecond: number): Row {
  return {
    scenario: `raw bcrypt verify, cost ${cost}, ${cores} threads`,
    figures: { rps: verifiesPerSecond, p50Ms: Number.NaN, p99Ms: Number.NaN, requests: 0, errors: 0 },
    note: "no service: @node-rs/bcrypt on every core",
  };
}

/** Runs bench/load/unary.ts in its own process. */
function nodeLoad(options: Record<string, unknown>): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(root, "bench", "load", "unary.ts"), JSON.stringify(options)], {
      cwd: root,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(out) as Figures) : reject(new Error(`load generator exited ${code}`))));
  });
}

/** bcrypt verifications per second with every core busy, in a process of its own. */
function rawBcrypt(cost: number, seconds: number): number {
  const out = execFileSync(
    process.execPath,
    ["--import", "tsx", join(root, "bench", "load", "bcrypt-raw.ts"), String(cost), String(seconds)],
    {
      cwd: root,
      env: { ...process.env, UV_THREADPOOL_SIZE: String(cores) },
    },
  );
  return (JSON.parse(out.toString()) as { verifiesPerSecond: number }).verifiesPerSecond;
}

/** Redis's used_memory before and after 100,000 sessions (10 per user), per session. */
async function redisBytesPerSession(url: string): Promise<number> {
  const redis = new Redis(url);
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1]);
  const store = createSessionStore(redis, "benchmem:", 30 * 86_400_000);
  const before = await usedMemory();
  const now = Date.now();
  const total = 100_000;
  let next = 0;
  await Promise.all(
    Array.from({ length: 256 }, async () => {
      while (next < total) {
        const n = next++;
        await store.create({
          id: newSessionId(),
          userId: `00000000-0000-4000-8000-${String(Math.floor(n / 10)).padStart(12, "0")}`,
          tenant: "default",
          secretHash: hashSecret(newSecret()),
          ip: "203.0.113.10",
          userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
          createdAt: now,
          absoluteExpiresAt: now + 30 * 86_400_000,
          idleTtlMs: 7 * 86_400_000,
          epoch: 0,
        });
      }
    }),
  );
  const after = await usedMemory();
  redis.disconnect();
  return Math.round((after - before) / total);
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
      `| ${r.scenario} | ${f.rps} | ${cell(f.p50Ms)} | ${cell(f.p99Ms)} | ${f.errors} | ${cell(r.serviceCpuUsPerCall)} | ${cell(r.redisCpuUsPerCall)} | ${r.note ?? ""} |`,
    );
  }
  return lines.join("\n");
}

await main();
