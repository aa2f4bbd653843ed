/**
 * ValidateToken and the floor on this code and on another worktree's (`--only validate-baseline
 * --baseline <dir>`), side by side: both compiled services run at once on one PostgreSQL and one
 * Redis (a database and a key prefix each: the two codes may migrate differently) and take turns,
 * round after round, at 16 and 64 streams. On this two-vCPU machine the same build measures ±5-10 %
 * apart from run to run (BENCHMARKS.md, the floor's two modes), so a change of a few per cent is
 * only seen in rounds interleaved like these; each row is the median of the rounds.
 *
 * One process per service by default (`--workers` to change it): a single worker's floor is stable,
 * where the cluster's has a fast and a slow mode.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

const ROUNDS = 5;
const VALIDATE = "/auth.v1.AuthService/ValidateToken";
const FLOOR = "/auth.bench.v1.Bench/Empty";

export interface BaselineRow {
  readonly code: string;
  readonly method: "ValidateToken" | "floor";
  readonly streams: number;
  readonly rps: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly serviceCpuUsPerCall: number;
  /** The median over the rounds of this row's req/s to the baseline's for the same method. */
  readonly ratioToBaseline: number;
  /** ValidateToken only: the median over the rounds of its req/s to the same code's floor. */
  readonly ratioToFloor?: number;
}

interface Code {
  readonly label: string;
  readonly svc: RunningService;
  readonly body: Buffer;
}

async function startCode(dir: string, name: string, work: string, stores: { postgres: string; redis: string }, workers: number) {
  const admin = new pg.Client({ connectionString: stores.postgres });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const dataDir = join(work, name);
  mkdirSync(dataDir, { recursive: true });
  const svc = await startService(
    dir,
    {
      DATABASE_URL: stores.postgres.replace(/\/postgres$/, `/${name}`),
      REDIS_URL: stores.redis,
      REDIS_KEY_PREFIX: `${name}:`,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      HOST: "127.0.0.1",
      JWT_ISSUER: "https://auth.bench.example",
      MAIL_OUTBOX_DIR: join(work, `${name}-outbox`),
      LOG_LEVEL: "info",
      BCRYPT_COST: "10",
      WORKERS: String(workers),
      METRICS_PORT: String(await freePort()),
      GRPC_PORT: String(await freePort()),
      HTTP_PORT: String(await freePort()),
      DATA_DIR: dataDir,
      BENCH_FLOOR: "true",
      ...JSON.parse(process.env.BENCH_ENV ?? "{}"),
    },
    join(work, `${name}.log`),
  );
  const auth = createClient(AuthService, createGrpcTransport({ baseUrl: `http://${svc.grpcAddress}` }));
  const email = `baseline.${randomBytes(4).toString("hex")}@example.com`;
  const password = `bench-${randomBytes(12).toString("base64url")}`;
  await auth.register({ email, password });
  const { accessToken } = await auth.login({ identifier: email, password });
  const body = grpcFrame(toBinary(ValidateTokenRequestSchema, create(ValidateTokenRequestSchema, { token: accessToken })));
  return { svc, body };
}

function rowsOf(codes: Code[], rounds: Map<string, Round[]>, streams: number): BaselineRow[] {
  const rps = (key: string) => rounds.get(key)!.map((r) => r.figures.rps);
  const baseline = codes[1]!.label;
  return codes.flatMap(({ label }) =>
    (["ValidateToken", "floor"] as const).map((method) => {
      const these = rounds.get(`${label} ${method}`)!;
      const figures = these.map((r) => r.figures);
      const against = rps(`${baseline} ${method}`);
      const floor = rps(`${label} floor`);
      return {
        code: label,
        method,
        streams,
        rps: round(median(figures.map((f) => f.rps)), 0),
        p99Ms: round(median(figures.map((f) => f.p99Ms)), 3),
        errors: figures.reduce((sum, f) => sum + f.errors, 0),
        serviceCpuUsPerCall: round(median(these.map((r) => r.cpuUsPerCall)), 0),
        ratioToBaseline: round(median(figures.map((f, i) => f.rps / against[i]!))),
        ...(method === "ValidateToken" ? { ratioToFloor: round(median(figures.map((f, i) => f.rps / floor[i]!))) } : {}),
      };
    }),
  );
}

export async function validateAgainstBaseline(options: {
  root: string;
  baseline: string;
  seconds: number;
  workers: number;
  log: (line: string) => void;
}): Promise<BaselineRow[]> {
  const { root, baseline, log } = options;
  execFileSync("bash", [join(root, "scripts", "install-bench-deps.sh")], { stdio: "inherit" });
  for (const dir of [root, baseline]) {
    log(`validate-baseline: building ${dir} …`);
    execFileSync("npm", ["run", "--silent", "build:service"], { cwd: dir, stdio: "inherit" });
  }
  const commit = (dir: string) => {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: dir }).toString().trim();
    const changed = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: dir }).toString().trim() !== "";
    return changed ? `${head} + uncommitted changes to src` : head;
  };
  const work = mkdtempSync(join(tmpdir(), "auth-bench-baseline-"));
  const postgres = await startPostgres();
  const redis = await startRedis();
  const codes: Code[] = [];
  try {
    const stores = { postgres: postgres.url, redis: redis.url };
    const ours = await startCode(root, "ours", work, stores, options.workers);
    codes.push({ label: `this code (${commit(root)})`, ...ours });
    const theirs = await startCode(baseline, "baseline", work, stores, options.workers);
    codes.push({ label: `baseline ${commit(baseline)}`, ...theirs });
    const rows: BaselineRow[] = [];
    for (const streams of [16, 64]) {
      const rounds = new Map<string, Round[]>();
      for (let r = 0; r < ROUNDS; r++) {
        for (const { label, svc, body } of codes) {
          for (const [method, path, bytes] of [
            ["ValidateToken", VALIDATE, body],
            ["floor", FLOOR, grpcFrame(new Uint8Array())],
          ] as const) {
            const key = `${label} ${method}`;
            rounds.set(key, [...(rounds.get(key) ?? []), await grpcRound(svc, path, bytes, streams, options.seconds / 2)]);
          }
        }
      }
      for (const row of rowsOf(codes, rounds, streams)) {
        rows.push(row);
        const ratios = `${row.ratioToBaseline} of the baseline${row.ratioToFloor === undefined ? "" : `, ${row.ratioToFloor} of its floor`}`;
        log(`${row.code} ${row.method} @${streams}: ${row.rps} req/s (${ratios}), ${row.serviceCpuUsPerCall} µs CPU/call`);
      }
    }
    return rows;
  } finally {
    for (const { svc } of codes) await svc.stop().catch(() => {});
    await redis.stop();
    await postgres.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}
