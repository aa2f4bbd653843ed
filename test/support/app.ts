/**
 * Builds and starts the real service for a test file: its own PostgreSQL database and Redis key
 * prefix on the suite's servers, ports 0, a controllable clock, and logs to the suite's log folder.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { pino } from "pino";
import { inject } from "vitest";
import { type App, buildApp } from "../../src/app.js";
import { type Config, loadConfig } from "../../src/config.js";
import type { Clock } from "../../src/domain/ports.js";
import { generatePrivateKeyPem } from "../../src/infra/crypto/keys.js";
import { openRedis, type RedisClient, waitForRedis } from "../../src/infra/redis/client.js";
import { createLogger } from "../../src/logger.js";

/** A clock that follows real time, plus an offset tests can move forward. */
export class TestClock implements Clock {
  #offset = 0;
  now(): number {
    return Date.now() + this.#offset;
  }
  advance(ms: number): void {
    this.#offset += ms;
  }
}

/** Creates an empty database on the suite's PostgreSQL and returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const admin = inject("postgresUrl");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

let signingKey: string | undefined;
/** One ES256 key per test process, as JWT_PRIVATE_KEY. */
export function testSigningKey(): string {
  signingKey ??= generatePrivateKeyPem("ES256");
  return signingKey;
}

export interface TestApp {
  readonly app: App;
  readonly config: Config;
  readonly clock: TestClock;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly baseUrl: string;
  /** GET /metrics on the operators' listener. */
  readonly metricsUrl: string;
  readonly grpcAddress: string;
  /** The file this app logs to. */
  readonly logFile: string;
  stop(): Promise<void>;
}

/** The suite's Redis deployments (test/global-setup.ts). */
export type RedisTopologyName = "standalone" | "sentinel" | "cluster";
export const REDIS_TOPOLOGIES: readonly RedisTopologyName[] = ["standalone", "sentinel", "cluster"];

/** The variables that point the service at one of the suite's Redis deployments. */
export function redisEnv(topology: RedisTopologyName): Record<string, string> {
  switch (topology) {
    case "standalone":
      return { REDIS_URL: inject("redisUrl") };
    case "cluster":
      return { REDIS_CLUSTER_NODES: inject("redisClusterNodes") };
    case "sentinel":
      return { REDIS_SENTINELS: inject("redisSentinels"), REDIS_SENTINEL_MASTER: inject("redisSentinelMaster") };
  }
}

/** A client of one of the suite's deployments, from the service's own factory, once it answers. */
export async function openTopology(topology: RedisTopologyName, env: Record<string, string> = {}): Promise<RedisClient> {
  const client = await openRedis(loadConfig({ ...redisEnv(topology), ...env }).redis, { onError: () => {} });
  if (!(await waitForRedis(client, 20_000))) throw new Error(`the suite's ${topology} Redis does not answer`);
  return client;
}

export interface TestAppOptions {
  /** Extra or overriding environment variables. */
  readonly env?: Record<string, string>;
  /** Reuse a database (several instances on one store). */
  readonly databaseUrl?: string;
  readonly redisUrl?: string;
  /** One of the suite's Redis deployments (default: the standalone server, or `redisUrl`). */
  readonly redisTopology?: RedisTopologyName;
  readonly redisKeyPrefix?: string;
  readonly clock?: TestClock;
  /** Names the log file. */
  readonly name?: string;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  // With DATABASE_URL set, mail must go somewhere on purpose: a folder of this app's own, unless
  // the test brings an SMTP server.
  const outbox = options.env?.SMTP_URL === undefined ? mkdtempSync(join(tmpdir(), "auth-outbox-")) : undefined;
  const env: Record<string, string> = {
    DATABASE_URL: options.databaseUrl ?? (await createTestDatabase()),
    ...(options.redisTopology === undefined ? { REDIS_URL: options.redisUrl ?? inject("redisUrl") } : redisEnv(options.redisTopology)),
    REDIS_KEY_PREFIX: options.redisKeyPrefix ?? `t${randomBytes(4).toString("hex")}:`,
    HOST: "127.0.0.1",
    GRPC_PORT: "0",
    HTTP_PORT: "0",
    JWT_PRIVATE_KEY: testSigningKey(),
    // The issuer, and (being an https URL) the public URL: both are required with DATABASE_URL.
    JWT_ISSUER: "https://auth.test",
    JWT_AUDIENCE: "api",
    ...(outbox === undefined ? {} : { MAIL_OUTBOX_DIR: outbox }),
    // The minimum cost: the suite exercises flows, not bcrypt; benchmarks measure real costs.
    BCRYPT_COST: "4",
    // Every test client calls from 127.0.0.1: with the default per-address budgets, tests of
    // other behaviour would fail depending on how many of them ran before. The tests of the abuse
    // limits (test/e2e/abuse-limits.test.ts, and the files that test a mail limit) set their own.
    LOGIN_MAX_FAILURES_PER_ADDRESS: "1000000",
    MAIL_PER_CLIENT_PER_HOUR: "1000000",
    LOG_LEVEL: "debug",
    SHUTDOWN_TIMEOUT: "2s",
    METRICS_PORT: "0",
    ...options.env,
  };
  const config = loadConfig(env);
  const logFile = join(inject("logDir"), `${options.name ?? "app"}-${process.pid}-${randomBytes(3).toString("hex")}.log`);
  const logger = createLogger(config.logLevel, pino.destination({ dest: logFile, sync: true }));
  const clock = options.clock ?? new TestClock();
  const app = await buildApp(config, { logger, clock });
  const { grpcPort, httpPort, metricsPort } = await app.start();
  return {
    app,
    config,
    clock,
    grpcPort,
    httpPort,
    baseUrl: `${config.tls === undefined ? "http" : "https"}://127.0.0.1:${httpPort}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    logFile,
    async stop() {
      try {
        await app.stop();
      } finally {
        if (outbox !== undefined) rmSync(outbox, { recursive: true, force: true });
      }
    },
  };
}
