/**
 * The tracing scenario: what OpenTelemetry costs ValidateToken (the hot path) over native gRPC.
 *
 * Three copies of the compiled service (`node dist/main.js`, one process each) share one
 * PostgreSQL, one Redis and one signing key ring: tracing off (no OTEL_* at all), tracing on with
 * every call sampled and exported over OTLP/HTTP protobuf to an in-process sink that accepts and
 * discards, and tracing on with `OTEL_TRACES_SAMPLER=always_off` (the spans made but not
 * recorded). They are loaded one at a time with h2load, in alternating rounds (this VM's speed
 * drifts), at 1 and 64 concurrent streams; each row's ratio is the median of the rounds' ratios
 * to "off", and the service's CPU per call the median of the rounds' (the figure to read on a
 * loaded machine, where rates drift). Tracing off runs the same code as before tracing existed, but for a few `undefined`
 * checks (three per call, one per query); test/e2e/tracing-off.test.ts shows that no tracing module loads.
 *
 * `npm run bench -- --only tracing`, or `node --import tsx bench/scenarios/tracing.ts --seconds 6`.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import pg from "pg";
import { AuthService, ValidateTokenRequestSchema } from "../../src/gen/auth/v1/auth_pb.js";
import { freePort, startPostgres, startRedis } from "../../test/support/servers.js";
import { grpcRound, type Round } from "../lib/rounds.js";
import { median } from "../lib/run.js";
import { type RunningService, startService } from "../lib/service.js";
import { round } from "../lib/stats.js";
import { grpcFrame } from "../lib/tools.js";

const ROUNDS = 3;
const MODES = ["off", "on, every call exported", "on, sampler always_off"] as const;
type Mode = (typeof MODES)[number];

export interface TracingRow {
  readonly mode: Mode;
  readonly streams: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  /** The median over the rounds of this mode's req/s to "off"'s. */
  readonly ratioToOff: number;
  /** The service's CPU per call (µs; warm-up included, at the round's rate): what a call costs, however loaded the machine. */
  readonly serviceCpuUsPerCall: number;
}

/** An OTLP endpoint that takes every export and keeps only the count of bytes. */
async function otlpSink(): Promise<{ url: string; bytes: () => number; close: () => void }> {
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf" }).end());
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bytes: () => bytes, close: () => server.close() };
}

/** The three services, one after the other: the first migrates the database and makes the key ring the others share. */
async function startServices(root: string, work: string, stores: { postgres: string; redis: string }, sinkUrl: string) {
  const base = {
    DATABASE_URL: stores.postgres.replace(/\/postgres$/, "/bench"),
    REDIS_URL: stores.redis,
    REDIS_KEY_PREFIX: "bench:",
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    HOST: "127.0.0.1",
    JWT_ISSUER: "https://auth.bench.example",
    MAIL_OUTBOX_DIR: join(work, "outbox"),
    LOG_LEVEL: "info",
    BCRYPT_COST: "10",
    WORKERS: "1",
    METRICS_PORT: "0",
  };
  const tracing: Record<Mode, Record<string, string>> = {
    off: {},
    "on, every call exported": { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl },
    "on, sampler always_off": { OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl, OTEL_TRACES_SAMPLER: "always_off" },
  };
  const services = new Map<Mode, RunningService>();
  for (const mode of MODES) {
    const dataDir = join(work, mode);
    mkdirSync(dataDir, { recursive: true });
    const ports = { GRPC_PORT: String(await freePort()), HTTP_PORT: String(await freePort()) };
    services.set(mode, await startService(root, { ...base, ...tracing[mode], ...ports, DATA_DIR: dataDir }, join(work, "service.log")));
  }
  return services;
}

/** A ValidateToken request body (gRPC framed) for a fresh user's access token. */
async function validateBody(svc: RunningService): Promise<Buffer> {
  const auth = createClient(AuthService, createGrpcTransport({ baseUrl: `http://${svc.grpcAddress}` }));
  const email = `tracing.${randomBytes(4).toString("hex")}@example.com`;
  const password = `bench-${randomBytes(12).toString("base64url")}`;
  await auth.register({ email, password });
  const { accessToken } = await auth.login({ identifier: email, password });
  return grpcFrame(toBinary(ValidateTokenRequestSchema, create(ValidateTokenRequestSchema, { token: accessToken })));
}

/** Rounds of each mode at `streams`, alternating; a row per mode. */
async function measure(services: Map<Mode, RunningService>, body: Buffer, streams: number, seconds: number): Promise<TracingRow[]> {
  const rounds = new Map<Mode, Round[]>(MODES.map((mode) => [mode, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of MODES) {
      rounds.get(mode)!.push(await grpcRound(services.get(mode)!, "/auth.v1.AuthService/ValidateToken", body, streams, seconds / 2));
    }
  }
  const off = rounds.get("off")!.map((round) => round.figures);
  return MODES.map((mode) => {
    const figures = rounds.get(mode)!.map((round) => round.figures);
    return {
      mode,
      streams,
      rps: round(median(figures.map((f) => f.rps)), 0),
      p50Ms: round(median(figures.map((f) => f.p50Ms)), 3),
      p99Ms: round(median(figures.map((f) => f.p99Ms)), 3),
      errors: figures.reduce((sum, f) => sum + f.errors, 0),
      ratioToOff: round(median(figures.map((f, i) => f.rps / off[i]!.rps))),
      serviceCpuUsPerCall: round(median(rounds.get(mode)!.map((r) => r.cpuUsPerCall)), 0),
    };
  });
}

export async function tracingScenario(options: { root: string; seconds?: number; log?: (line: string) => void }): Promise<TracingRow[]> {
  const { root } = options;
  const seconds = options.seconds ?? 8;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  execFileSync("bash", [join(root, "scripts", "install-bench-deps.sh")], { stdio: "inherit" });
  log("tracing: building the service …");
  execFileSync("npm", ["run", "--silent", "build:service"], { cwd: root, stdio: "inherit" });
  const work = mkdtempSync(join(tmpdir(), "auth-bench-tracing-"));
  const postgres = await startPostgres();
  const redis = await startRedis();
  const sink = await otlpSink();
  let services = new Map<Mode, RunningService>();
  try {
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query("create database bench");
    await admin.end();
    services = await startServices(root, work, { postgres: postgres.url, redis: redis.url }, sink.url);
    const body = await validateBody(services.get("off")!);
    const rows: TracingRow[] = [];
    for (const streams of [1, 64]) {
      for (const row of await measure(services, body, streams, seconds)) {
        rows.push(row);
        log(
          `tracing ${row.mode} @${streams}: ${row.rps} req/s (${row.ratioToOff} of off), p99 ${row.p99Ms} ms, ${row.serviceCpuUsPerCall} µs CPU/call`,
        );
      }
    }
    log(`tracing: the sink received ${Math.round(sink.bytes() / 1024)} KiB of spans`);
    return rows;
  } finally {
    for (const svc of services.values()) await svc.stop();
    sink.close();
    await redis.stop();
    await postgres.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { values } = parseArgs({ options: { seconds: { type: "string" } } });
  const root = join(import.meta.dirname, "..", "..");
  const rows = await tracingScenario({ root, seconds: values.seconds === undefined ? undefined : Number(values.seconds) });
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync(join(root, "bench", "results"), { recursive: true });
  writeFileSync(join(root, "bench", "results", `${date}-tracing.json`), `${JSON.stringify({ date, rows }, null, 2)}\n`);
}
