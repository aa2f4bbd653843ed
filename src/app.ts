/**
 * The composition root: configuration -> stores -> domain -> transports. `buildApp` wires
 * everything without listening (adapters in app/adapters.ts, stores in app/stores.ts); `start`
 * binds the ports and `stop` shuts down gracefully (app/lifecycle.ts). Tests build the same app on
 * port 0.
 */
import { createRequire } from "node:module";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import {
  createAdminDeps,
  createAuthDeps,
  grantsFor,
  mailerFor,
  passwordHasherFor,
  sessionLivenessFor,
  sessionStoreFor,
} from "./app/adapters.js";
import { listenForGrantChanges, listenForKeyRotations } from "./app/announcements.js";
import { createLifecycle } from "./app/lifecycle.js";
import { closeStores, openStores, redisHooksFor, type Stores, storesReadinessCheck } from "./app/stores.js";
import type { Config } from "./config.js";
import { type AdminFlows, bindAdminFlows } from "./domain/admin/flows.js";
import type { AdminDeps } from "./domain/admin/ports.js";
import { bindFlows, type Flows } from "./domain/flows.js";
import type { Clock, SecurityEvents } from "./domain/ports.js";
import { createBackground } from "./infra/background.js";
import { openKeyRing } from "./infra/crypto/key-setup.js";
import { createAuditLog } from "./infra/postgres/audit.js";
import type { Database } from "./infra/postgres/schema.js";
import type { RedisClient } from "./infra/redis/client.js";
import type { CachedLiveness } from "./infra/redis/session-liveness.js";
import { createMetrics, createMetricsServer, type Metrics } from "./metrics.js";
import type { DatabaseTarget, Tracing } from "./tracing/tracing.js";
import { adminService } from "./transport/admin-service.js";
import { authService } from "./transport/auth-service.js";
import { trustedProxies } from "./transport/call/context.js";
import { createCallEnvelope, type Interceptor } from "./transport/call/envelope.js";
import { grpcCredentials } from "./transport/grpc/credentials.js";
import { addHealth, addReflection } from "./transport/grpc/introspection.js";
import { createGrpcServer } from "./transport/grpc/server.js";
import { createHttpServer, type Readiness } from "./transport/http/server.js";
import { loadTlsMaterial } from "./transport/listeners.js";
import { serverMetadata } from "./transport/rest/discovery.js";
import type { ServedService } from "./transport/services.js";

export interface AppOptions {
  readonly logger: Logger;
  /** Defaults to the system clock. */
  readonly clock?: Clock;
  /** Serve GET /metrics on METRICS_HOST:METRICS_PORT (default true; a cluster's workers leave it to the primary). */
  readonly serveMetrics?: boolean;
}

export interface App {
  readonly deps: AdminDeps;
  readonly flows: Flows;
  readonly adminFlows: AdminFlows;
  readonly db: Kysely<Database>;
  readonly redis: RedisClient;
  readonly metrics: Metrics;
  /** The per-process cache of session liveness; undefined when off (SESSION_CACHE_SIZE=0, embedded Redis). */
  readonly sessionCache: CachedLiveness | undefined;
  /** Binds the ports; `metricsPort` is undefined when this process serves no metrics. */
  start(): Promise<{ grpcPort: number; httpPort: number; metricsPort: number | undefined }>;
  /** Waits for background work (mail) started so far. */
  drainBackground(timeoutMs?: number): Promise<void>;
  /** Tells health checkers, stops accepting, lets in-flight calls and queued mail finish within the shutdown timeout, closes the stores. */
  stop(): Promise<void>;
  readiness(): Promise<Readiness>;
}

const systemClock: Clock = { now: () => Date.now() };

/** The package's version (src/ and dist/ are both one level below package.json). */
const SERVICE_VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

/** The services both ports serve: a new service is one more entry here (and a file of handlers). */
function services(config: Config, flows: Flows, adminFlows: AdminFlows): ServedService[] {
  return [authService(flows), adminService(adminFlows, config.policy)];
}

export async function buildApp(config: Config, options: AppOptions): Promise<App> {
  const { logger } = options;
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics();
  const tracing = config.tracing === undefined ? undefined : await startTracingFor(config, logger);
  const stores = await openStores(config, logger, metrics, tracing?.observeQuery).catch(async (error: unknown) => {
    await tracing?.shutdown();
    throw error;
  });
  const domain = await wireDomain(config, stores, { logger, clock, metrics, tracing });
  const readiness = storesReadinessCheck(stores);
  const transports = wireTransports(config, domain, { logger, clock, metrics, tracing, readiness });
  const drainBackground = (timeoutMs = config.shutdownTimeoutMs) => domain.background.drain(timeoutMs);
  const lifecycle = createLifecycle({
    config,
    logger,
    grpcPort: transports.grpcPort,
    httpServer: transports.httpServer,
    metricsServer: options.serveMetrics === false ? undefined : createMetricsServer(() => metrics.text()),
    health: transports.health,
    readiness,
    drainBackground,
    async close() {
      transports.close();
      await domain.close();
      await closeStores(stores);
      // Last: the spans of the last calls, queries included, go out.
      await tracing?.shutdown();
    },
  });
  const { deps, flows, adminFlows, liveness: sessionCache } = domain;
  const { db, redis } = stores;
  return {
    deps,
    flows,
    adminFlows,
    db,
    redis,
    metrics,
    sessionCache,
    readiness,
    drainBackground,
    start: lifecycle.start,
    stop: lifecycle.stop,
  };
}

interface Wiring {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly metrics: Metrics;
  /** OpenTelemetry, when OTEL_* turn it on. */
  readonly tracing: Tracing | undefined;
}

/** The ports over the stores and the flows bound to them; `close` closes what this opened (not the stores). */
async function wireDomain(config: Config, stores: Stores, { logger, clock, metrics, tracing }: Wiring) {
  const { db, redis } = stores;
  const keyRing = await openKeyRing(config, db, clock, logger);
  const hooks = redisHooksFor(logger, metrics);
  const rotationListener = await listenForKeyRotations(config, keyRing, logger, hooks);
  const mail = mailerFor(config, logger);
  const background = createBackground(logger);
  const hasher = await passwordHasherFor(config, "service");
  const passwords = tracing === undefined ? hasher : tracing.tracePasswords(hasher);
  const events = countedEvents(createAuditLog(db, logger), metrics);
  const grants = grantsFor(config, db, redis, logger);
  const grantsListener = await listenForGrantChanges(config, grants, hooks);
  const { legacySessions, sessionWriter } = stores;
  const sessionStore = sessionStoreFor(config, redis, { legacy: legacySessions, writer: sessionWriter });
  const liveness = sessionLivenessFor(config, sessionStore, redis, legacySessions, logger);
  if (config.benchFloor) {
    // Benchmarks only: when each invalidation reached this process and was honoured (atUs: on the
    // invalidation thread), and when the event loop applied it (appliedAtUs; bench/scenarios/revocation.ts).
    liveness?.onInvalidation((keys, atUs) => {
      const appliedAtUs = Math.round((performance.timeOrigin + performance.now()) * 1000);
      logger.info({ keys, atUs, appliedAtUs }, "bench: session cache invalidation");
    });
  }
  const sessions = liveness?.store ?? sessionStore;
  const limitHooks = { onRefused: (limit: string) => metrics.rateLimited(limit), onUnavailable: () => metrics.storeError("redis") };
  const parts = {
    db,
    redis,
    sessionWriter,
    keyRing,
    passwords,
    mailer: mail.mailer,
    background,
    events,
    clock,
    legacySessions,
    grants,
    limitHooks,
    sessions,
  };
  const deps = createAdminDeps(createAuthDeps(config, parts), db);
  return {
    deps,
    flows: bindFlows(deps),
    adminFlows: bindAdminFlows(deps),
    keyRing,
    background,
    liveness,
    async close() {
      mail.close();
      keyRing.close();
      await passwords.close();
      rotationListener?.close();
      liveness?.close();
      grantsListener?.close();
    },
  };
}

/** Both ports, serving every service through one call envelope; `close` lets go of the TLS material. */
function wireTransports(
  config: Config,
  domain: Awaited<ReturnType<typeof wireDomain>>,
  { logger, clock, metrics, tracing, readiness }: Wiring & { readiness: () => Promise<Readiness> },
) {
  const served = services(config, domain.flows, domain.adminFlows);
  const descriptors = served.map((s) => s.service);
  // Concerns of every call on every transport go here, in order (ARCHITECTURE.md lists the planned ones).
  const interceptors: Interceptor[] = [];
  const envelope = createCallEnvelope(
    { logger, metrics },
    {
      interceptors,
      tracer: tracing?.callTracer,
      trustedProxies: trustedProxies(config.clientAddress),
    },
  );
  const tls = config.tls === undefined ? undefined : loadTlsMaterial(config.tls, logger);
  const grpcPort = createGrpcServer(served, {
    maxRequestBytes: config.maxRequestBytes,
    envelope,
    limits: config.limits,
    credentials: grpcCredentials(tls, config.limits.headersTimeoutMs),
    onConnectionRefused: () => metrics.connectionRefused("grpc"),
    benchFloor: config.benchFloor,
  });
  addReflection(grpcPort.server, descriptors);
  const health = addHealth(grpcPort.server, descriptors);
  const { keyRing } = domain;
  const httpServer = createHttpServer(served, domain.flows, {
    maxRequestBytes: config.maxRequestBytes,
    envelope,
    logger,
    limits: config.limits,
    tls,
    allowedOrigins: config.cors.allowedOrigins,
    onConnectionRefused: () => metrics.connectionRefused("http"),
    readiness,
    compat: config.compatRoutes,
    publicUrl: config.publicUrl,
    version: SERVICE_VERSION,
    wellKnown: {
      jwks: () => ({ keys: keyRing.publicJwks(clock.now()) }),
      metadata: serverMetadata({ issuer: config.jwt.issuer, publicUrl: config.publicUrl }),
    },
  });
  return { grpcPort, httpServer, health, close: () => tls?.close() };
}

/**
 * Starts OpenTelemetry tracing (OTEL_* configured it). The SDK is imported here, on demand: with
 * tracing off the process loads none of it: a call pays three `undefined` checks, a query one.
 */
async function startTracingFor(config: Config, logger: Logger): Promise<Tracing> {
  const { startTracing } = await import("./tracing/sdk.js");
  const tracingConfig = config.tracing!;
  let database: DatabaseTarget = { namespace: "pglite", address: undefined, port: undefined };
  if (config.databaseUrl !== undefined) {
    const url = new URL(config.databaseUrl);
    database = {
      namespace: decodeURIComponent(url.pathname.slice(1)) || undefined,
      address: url.hostname || undefined,
      port: url.port === "" ? 5432 : Number(url.port),
    };
  }
  return startTracing(tracingConfig, { serviceVersion: SERVICE_VERSION, logger, database, redisKeyPrefix: config.redisKeyPrefix });
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
