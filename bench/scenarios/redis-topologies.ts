/**
 * The Redis topologies scenario: ValidateToken and Refresh on a Redis Cluster against a standalone
 * Redis, in one run, on one machine.
 *
 * Three services (the compiled one, WORKERS = the cores) share one PostgreSQL: one on a
 * standalone Redis, one on a Redis Cluster of three masters with a replica each (every node on
 * this machine), and one on the same Cluster with REDIS_WAIT_REPLICAS=1 (each session write waits
 * for its replica: the cost of "no session lost in a failover"). Then:
 *   1. ValidateToken over gRPC, one token, at 16 and 64 streams (h2load), standalone and Cluster
 *      alternating in rounds (this VM's speed drifts), the ratio the median of the rounds' ratios;
 *   2. Refresh over gRPC, 64 concurrent, each of 20,000 seeded refresh tokens once (the Node
 *      generator), on each of the three.
 * Redis CPU is the standalone server's, or the sum over the Cluster's six nodes (replication
 * included). On one machine the Cluster's nodes share the cores with everything else, so this
 * measures what the client side costs (slot routing, more connections), not the capacity a
 * Cluster spread over machines adds.
 *
 * `npm run bench -- --only topologies` runs this alone (about 3 minutes); the figures go to
 * bench/results/<date>-redis-topologies.json.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Redis } from "ioredis";
import pg from "pg";
import { loadConfig } from "../../src/config.js";
import { AuthService, ValidateTokenRequestSchema } from "../../src/gen/auth/v1/auth_pb.js";
import { startRedisCluster } from "../../test/support/redis-topologies.js";
import { freePort, startPostgres, startRedis } from "../../test/support/servers.js";
import { type Bench, combine, cores, createBench, log, median, type Observed, type Row, row, withServerErrors } from "../lib/run.js";
import { type SeededFiles, writeSeededBodies } from "../lib/seed.js";
import { failedCalls, type RunningService, startService } from "../lib/service.js";
import { type Figures, round } from "../lib/stats.js";
import { grpcFrame, h2load } from "../lib/tools.js";
import { generator } from "./validate-uncached.js";

const ROUNDS = 3;
const SEEDED_SESSIONS = 20_000;

/** One service under test, on its topology, with what it needs to be loaded. */
interface Subject {
  readonly name: string;
  readonly svc: RunningService;
  /** The CPU figures of its Redis (one server, or every node of the Cluster). */
  readonly bench: Bench;
  readonly validateBody: Buffer;
  readonly files: SeededFiles;
}

/** INFO cpu summed over several servers, as `createBench` reads it from one. */
function cpuOf(nodes: readonly Redis[]): Redis {
  const info = async () => {
    let user = 0;
    let sys = 0;
    for (const node of nodes) {
      const text = await node.info("cpu");
      user += Number(/used_cpu_user:([\d.]+)/.exec(text)?.[1] ?? 0);
      sys += Number(/used_cpu_sys:([\d.]+)/.exec(text)?.[1] ?? 0);
    }
    return `used_cpu_user:${user}\r\nused_cpu_sys:${sys}\r\n`;
  };
  return { info } as unknown as Redis;
}

/** Starts a service on `env`'s Redis, signs a user in, and seeds sessions for Refresh. */
async function subject(
  name: string,
  env: Record<string, string>,
  cpu: Redis,
  options: { seconds: number; work: string; root: string },
): Promise<Subject> {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  const dir = join(options.work, slug);
  mkdirSync(dir, { recursive: true });
  const ports = { GRPC_PORT: String(await freePort()), HTTP_PORT: String(await freePort()), METRICS_PORT: String(await freePort()) };
  const fullEnv = { ...env, ...ports };
  const svc = await startService(options.root, fullEnv, join(dir, "service.log"));
  const auth = createClient(AuthService, createGrpcTransport({ baseUrl: `http://${svc.grpcAddress}` }));
  const email = `topology.${slug}.${randomBytes(4).toString("hex")}@example.com`;
  const password = `bench-${randomBytes(12).toString("base64url")}`;
  await auth.register({ email, password });
  const { accessToken } = await auth.login({ identifier: email, password });
  log(`${name}: seeding ${SEEDED_SESSIONS} sessions …`);
  const files = await writeSeededBodies(loadConfig(fullEnv), email, SEEDED_SESSIONS, dir);
  const validateBody = grpcFrame(toBinary(ValidateTokenRequestSchema, create(ValidateTokenRequestSchema, { token: accessToken })));
  const bench = createBench({ seconds: options.seconds, workers: Number(env.WORKERS), work: dir, redisInfo: cpu });
  return { name, svc, bench, validateBody, files };
}

/** ValidateToken on two subjects in alternating rounds; rows for each and the ratio of their rates. */
async function validateAlternating(
  a: Subject,
  b: Subject,
  concurrency: number,
  seconds: number,
  rows: Row[],
  ratios: Record<string, number>,
) {
  const load = (s: Subject) => () =>
    h2load({
      url: `http://${s.svc.grpcAddress}/auth.v1.AuthService/ValidateToken`,
      body: s.validateBody,
      connections: 4,
      streams: concurrency / 4,
      seconds: seconds / 2,
      warmupSeconds: 1,
    });
  const rounds: [Observed<Figures>[], Observed<Figures>[]] = [[], []];
  const before = [await failedCalls(a.svc, "ValidateToken"), await failedCalls(b.svc, "ValidateToken")];
  for (let r = 0; r < ROUNDS; r++) {
    rounds[0].push(await a.bench.observe(a.svc, load(a)));
    rounds[1].push(await b.bench.observe(b.svc, load(b)));
  }
  const ratio = median(rounds[1].map((o, r) => o.result.rps / (rounds[0][r] as Observed<Figures>).result.rps));
  for (const [i, s] of [a, b].entries()) {
    const observed = combine(rounds[i] as Observed<Figures>[]);
    const errors = (await failedCalls(s.svc, "ValidateToken")) - (before[i] ?? 0);
    const note = `rounds: ${(rounds[i] as Observed<Figures>[]).map((o) => o.result.rps).join(", ")} req/s`;
    rows.push(row(`ValidateToken gRPC, ${concurrency} streams, ${s.name}`, observed, { ...withServerErrors(observed, errors), note }));
  }
  ratios[`validateToken ${b.name}/${a.name}@${concurrency}`] = round(ratio);
  log(`ValidateToken @${concurrency}: ${b.name} / ${a.name} = ${round(ratio)}`);
}

async function refresh(s: Subject, rows: Row[]): Promise<Observed<Figures>> {
  const before = await failedCalls(s.svc, "Refresh");
  const observed = await s.bench.observe(s.svc, generator(s.svc, s.bench, "/auth.v1.AuthService/Refresh", s.files.refresh, false));
  const errors = (await failedCalls(s.svc, "Refresh")) - before;
  rows.push(row(`Refresh gRPC, 64 concurrent, ${s.name}`, observed, withServerErrors(observed, errors)));
  log(`Refresh on ${s.name}: ${observed.result.rps} req/s`);
  return observed;
}

export interface TopologiesOptions {
  readonly root: string;
  readonly seconds: number;
  readonly workers: number;
}

export async function redisTopologiesScenario(options: TopologiesOptions): Promise<Row[]> {
  const work = mkdtempSync(join(tmpdir(), "auth-bench-topologies-"));
  const [postgres, standalone, cluster] = await Promise.all([startPostgres(), startRedis(), startRedisCluster()]);
  const clients = [new Redis(standalone.url), ...cluster.nodes.map((n) => new Redis(n.port, n.host))];
  const subjects: Subject[] = [];
  try {
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query("create database topologies");
    await admin.end();
    const base = {
      DATABASE_URL: postgres.url.replace(/\/postgres$/, "/topologies"),
      REDIS_URL: "",
      KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      HOST: "127.0.0.1",
      JWT_ISSUER: "https://auth.bench.example",
      MAIL_OUTBOX_DIR: join(work, "outbox"),
      LOG_LEVEL: "info",
      BCRYPT_COST: "10",
      WORKERS: String(options.workers),
      DATA_DIR: join(work, "data"),
    };
    const context = { seconds: options.seconds, work, root: options.root };
    subjects.push(
      await subject("standalone", { ...base, REDIS_URL: standalone.url, REDIS_KEY_PREFIX: "s:" }, cpuOf(clients.slice(0, 1)), context),
    );
    subjects.push(
      await subject("Cluster", { ...base, REDIS_CLUSTER_NODES: cluster.seeds, REDIS_KEY_PREFIX: "c:" }, cpuOf(clients.slice(1)), context),
    );
    const waitEnv = { ...base, REDIS_CLUSTER_NODES: cluster.seeds, REDIS_KEY_PREFIX: "w:", REDIS_WAIT_REPLICAS: "1" };
    subjects.push(await subject("Cluster, REDIS_WAIT_REPLICAS=1", waitEnv, cpuOf(clients.slice(1)), context));
    return await measure(subjects, options);
  } finally {
    for (const s of subjects) await s.svc.stop().catch(() => {});
    for (const c of clients) c.disconnect();
    await Promise.all([cluster.stop(), standalone.stop(), postgres.destroy()]);
    rmSync(work, { recursive: true, force: true });
  }
}

async function measure([standalone, cluster, waiting]: Subject[], options: TopologiesOptions): Promise<Row[]> {
  if (standalone === undefined || cluster === undefined || waiting === undefined) throw new Error("three subjects expected");
  const rows: Row[] = [];
  const ratios: Record<string, number> = {};
  const load = [loadavg()[0] ?? 0];
  for (const concurrency of [16, 64]) await validateAlternating(standalone, cluster, concurrency, options.seconds, rows, ratios);
  const refreshes = [await refresh(standalone, rows), await refresh(cluster, rows), await refresh(waiting, rows)];
  load.push(loadavg()[0] ?? 0);
  const [s, c, w] = refreshes as [Observed<Figures>, Observed<Figures>, Observed<Figures>];
  ratios["refresh Cluster/standalone"] = round(c.result.rps / s.result.rps);
  ratios["refresh Cluster with WAIT/Cluster"] = round(w.result.rps / c.result.rps);
  const date = new Date().toISOString().slice(0, 10);
  const result = {
    date,
    cpu: cpus()[0]?.model ?? "unknown",
    cores,
    workers: options.workers,
    loadAverage: load.map((l) => round(l, 1)),
    rows,
    ratios,
  };
  mkdirSync(join(options.root, "bench", "results"), { recursive: true });
  writeFileSync(join(options.root, "bench", "results", `${date}-redis-topologies.json`), `${JSON.stringify(result, null, 2)}\n`);
  log(`ratios: ${JSON.stringify(ratios)}; 1-minute load average before and after: ${result.loadAverage.join(", ")}`);
  return rows;
}
