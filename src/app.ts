/**
 * The composition root: configuration -> stores -> domain -> transports. `buildApp` wires
 * everything without listening; `start` binds the ports and `stop` shuts down gracefully.
 * Tests build the same app on port 0.
 */

import type { Server as HttpServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import type { Server as GrpcServer } from "@grpc/grpc-js";
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Config } from "./config.js";
import type { AuthDeps, Clock, SecurityEvents } from "./domain/ports.js";
import { createBackground } from "./infra/background.js";
import { createAccessTokens } from "./infra/crypto/access-tokens.js";
import { loadCommonPasswords } from "./infra/crypto/common-passwords.js";
import type { KeyRing } from "./infra/crypto/key-ring.js";
import { keyRotationChannel, openKeyRing } from "./infra/crypto/key-setup.js";
import { createPasswordHasher } from "./infra/crypto/passwords.js";
import { createOutboxMailer } from "./infra/mail/outbox.js";
import { createSmtpMailer } from "./infra/mail/smtp.js";
import { createAuditLog } from "./infra/postgres/audit.js";
import { ensureTenant, migrateToLatest, openDatabase, pingDatabase } from "./infra/postgres/database.js";
import { createOneTimeTokens } from "./infra/postgres/one-time-tokens.js";
import type { Database } from "./infra/postgres/schema.js";
import { createUserRepository } from "./infra/postgres/users.js";
import { openRedis, pingRedis, waitForRedis } from "./infra/redis/client.js";
import { createRateLimiter } from "./infra/redis/rate-limit.js";
import { createSessionStore } from "./infra/redis/sessions.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { addHealth, addReflection } from "./transport/grpc/introspection.js";
import { createGrpcServer, listenGrpc } from "./transport/grpc/server.js";
import { createAuthHandlers } from "./transport/handlers.js";
import { createHttpServer, type Readiness } from "./transport/http/server.js";

export interface AppOptions {
  readonly logger: Logger;
  /** Defaults to the system clock. */
  readonly clock?: Clock;
}

export interface App {
  readonly deps: AuthDeps;
  readonly db: Kysely<Database>;
  readonly redis: Redis;
  readonly metrics: Metrics;
  start(): Promise<{ grpcPort: number; httpPort: number }>;
  /** Waits for background work (mail) started so far. */
  drainBackground(timeoutMs?: number): Promise<void>;
  /** Tells health checkers, stops accepting, lets in-flight calls and queued mail finish within the shutdown timeout, closes the stores. */
  stop(): Promise<void>;
  readiness(): Promise<Readiness>;
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * bcrypt's threads yield to the event loops: a login storm then slows logins, not every other
 * call. Nice 10 gives an event loop about nine times bcrypt's share of a contended core.
 */
const BCRYPT_NICENESS = 10;

/** The package's version (src/ and dist/ are both one level below package.json). */
const SERVICE_VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Runs the migrations, retrying while PostgreSQL is starting (as under docker-compose). */
async function prepareDatabase(db: Kysely<Database>, config: Config, logger: Logger): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const applied = await migrateToLatest(db);
      if (applied.length > 0) logger.info({ migrations: applied }, "database migrated");
      await ensureTenant(db, config.policy.defaultTenant, config.policy.defaultTenant);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      logger.warn({ err: error, attempt }, "database not ready; retrying in 1 s");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/**
 * Reloads the key ring when `cli keys rotate` announces a rotation (a real Redis only: the embedded
 * stand-in serves one process, which polls and reloads on unknown kids anyway).
 */
function listenForKeyRotations(config: Config, redis: Redis, ring: KeyRing, logger: Logger): Redis | undefined {
  if (config.jwt.keySource !== "ring" || config.redisUrl === undefined) return undefined;
  // A subscriber needs its own connection; it queues SUBSCRIBE until connected and resubscribes
  // after reconnecting.
  const subscriber = redis.duplicate({ enableOfflineQueue: true });
  subscriber.on("error", () => {
    // Reported by the main connection's listener; the ring still polls.
  });
  subscriber.subscribe(keyRotationChannel(config.redisKeyPrefix)).catch(() => {});
  subscriber.on("message", () => {
    ring.reload().then(
      () => logger.info({ kid: ring.signer().kid }, "signing key ring reloaded after a rotation"),
      (error: unknown) => logger.warn({ err: error }, "could not reload the signing key ring"),
    );
  });
  return subscriber;
}

/** Counts each security event in the metrics, then records it. */
function countedEvents(events: SecurityEvents, metrics: Metrics): SecurityEvents {
  return {
    record(event) {
      metrics.securityEvent(event);
      return events.record(event);
    },
  };
}

export async function buildApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics();
  const observer = { logger, metrics };

  const db = openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: config.databasePoolMax,
    onPoolError: (error) => {
      metrics.storeError("postgres");
      logger.warn({ err: error }, "PostgreSQL connection error");
    },
    onUnavailable: () => metrics.storeError("postgres"),
  });
  let lastRedisError = 0;
  const redis = await openRedis(
    config.redisUrl,
    (error) => {
      metrics.storeError("redis");
      // ioredis reports every failed reconnection attempt; one line per 10 s is enough.
      if (Date.now() - lastRedisError > 10_000) logger.warn({ err: error }, "Redis connection error");
      lastRedisError = Date.now();
    },
    () => metrics.storeError("redis"),
  );
  try {
    await prepareDatabase(db, config, logger);
    if (!(await waitForRedis(redis, 5000))) logger.warn("Redis is not reachable yet; calls needing it answer UNAVAILABLE until it is");
  } catch (error) {
    redis.disconnect();
    await db.destroy();
    throw error;
  }
  const keyRing = await openKeyRing(config, db, clock, logger);
  const rotationListener = listenForKeyRotations(config, redis, keyRing, logger);

  const smtp = config.smtpUrl === undefined ? undefined : createSmtpMailer(config.smtpUrl, config.mailFrom);
  if (smtp === undefined) logger.warn({ outbox: config.mailOutboxDir }, "no SMTP_URL: mail is written to the outbox folder");
  const background = createBackground(logger);

  const passwords = await createPasswordHasher(config.bcryptCost, { threads: config.bcryptThreads, niceness: BCRYPT_NICENESS });
  const deps: AuthDeps = {
    users: createUserRepository(db),
    sessions: createSessionStore(redis, config.redisKeyPrefix, config.policy.sessionMaxLifetimeMs),
    passwords,
    commonPasswords: loadCommonPasswords(config.policy.passwordMinLength),
    tokens: createAccessTokens(keyRing, {
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      ttlMs: config.policy.accessTokenTtlMs,
      clockSkewMs: config.jwt.clockSkewMs,
      verifiedCacheSize: config.jwt.verifiedCacheSize,
    }),
    oneTimeTokens: createOneTimeTokens(db),
    mailer: smtp ?? createOutboxMailer(config.mailOutboxDir, config.mailFrom, logger),
    rateLimiter: createRateLimiter(redis, config.redisKeyPrefix),
    background,
    events: countedEvents(createAuditLog(db, logger), metrics),
    clock,
    policy: config.policy,
  };

  async function readiness(): Promise<Readiness> {
    const probe = (check: Promise<void>) =>
      withTimeout(check, 1000).then(
        () => "ok" as const,
        () => "unavailable" as const,
      );
    const [postgres, redisState] = await Promise.all([probe(pingDatabase(db)), probe(pingRedis(redis))]);
    return { ready: postgres === "ok" && redisState === "ok", checks: { postgres, redis: redisState } };
  }

  const handlers = createAuthHandlers(deps);
  const grpcServer: GrpcServer = createGrpcServer(handlers, {
    maxRequestBytes: config.maxRequestBytes,
    observer,
    benchFloor: config.benchFloor,
  });
  addReflection(grpcServer);
  const health = addHealth(grpcServer);
  const httpServer: HttpServer = createHttpServer(handlers, deps, {
    maxRequestBytes: config.maxRequestBytes,
    observer,
    readiness,
    compat: config.compatRoutes,
    publicUrl: config.publicUrl,
    version: SERVICE_VERSION,
    wellKnown: {
      jwks: () => ({ keys: keyRing.publicJwks(clock.now()) }),
      openidConfiguration: () => ({ issuer: config.jwt.issuer, jwks_uri: `${config.publicUrl}/.well-known/jwks.json` }),
    },
  });
  let started = false;
  let stopping = false;
  // grpc.health.v1 follows readiness: NOT_SERVING while PostgreSQL or Redis is unreachable.
  const checkHealth = async () => {
    const { ready } = await readiness();
    if (!stopping) health.set(ready ? "SERVING" : "NOT_SERVING");
  };
  let healthTimer: NodeJS.Timeout | undefined;

  return {
    deps,
    db,
    redis,
    metrics,
    readiness,
    drainBackground: (timeoutMs = config.shutdownTimeoutMs) => background.drain(timeoutMs),
    async start() {
      const grpcPort = await listenGrpc(grpcServer, config.host, config.grpcPort);
      await new Promise<void>((resolve, reject) => {
        httpServer.once("error", reject);
        httpServer.listen(config.httpPort, config.host, () => {
          httpServer.off("error", reject);
          resolve();
        });
      });
      started = true;
      await checkHealth();
      healthTimer = setInterval(() => void checkHealth().catch(() => {}), config.healthCheckIntervalMs);
      healthTimer.unref();
      return { grpcPort, httpPort: (httpServer.address() as AddressInfo).port };
    },
    async stop() {
      // One deadline for everything that waits: in-flight calls, then queued mail.
      const bound = config.shutdownTimeoutMs;
      const deadline = Date.now() + bound;
      // Tell health checkers first, so load balancers stop sending new calls.
      stopping = true;
      clearInterval(healthTimer);
      health.set("NOT_SERVING");
      if (started) {
        const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        // close() drops the connections idle at that moment; keep-alive connections that finish a
        // call afterwards would linger until their timeout (5 s), so keep dropping idle ones.
        const sweeper = setInterval(() => httpServer.closeIdleConnections(), 50);
        void httpClosed.finally(() => clearInterval(sweeper));
        const grpcClosed = new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve()));
        try {
          await withTimeout(Promise.all([httpClosed, grpcClosed]), bound);
        } catch {
          logger.warn({ timeoutMs: bound }, "in-flight calls did not finish in time; closing connections");
          grpcServer.forceShutdown();
          httpServer.closeAllConnections();
        } finally {
          clearInterval(sweeper);
        }
      } else {
        grpcServer.forceShutdown();
      }
      // Mail queued by the last calls goes out before the stores close.
      await background.drain(Math.max(0, deadline - Date.now()));
      smtp?.close();
      keyRing.close();
      await passwords.close();
      rotationListener?.disconnect();
      await redis.quit().catch(() => redis.disconnect());
      await db.destroy();
    },
  };
}
