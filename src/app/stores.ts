/**
 * Opens PostgreSQL and Redis for the service: migrations run (retried while PostgreSQL starts),
 * the default tenant exists, and store errors are counted and logged without crashing anything.
 */
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { type DataDirLock, lockDataDir } from "../infra/postgres/data-dir-lock.js";
import { ensureTenant, migrateToLatest, pingDatabase } from "../infra/postgres/database.js";
import { listIdentifierConflicts } from "../infra/postgres/identifier-keys.js";
import type { Database } from "../infra/postgres/schema.js";
import type { QueryObserver } from "../infra/postgres/unavailable.js";
import { closeRedis, openRedis, pingRedis, type RedisClient, waitForRedis } from "../infra/redis/client.js";
import { createLegacySessions, type LegacySessions, upgradeSessionLayout } from "../infra/redis/legacy-sessions.js";
import type { Metrics } from "../metrics.js";
import type { Readiness } from "../transport/http/server.js";
import { openDatabaseFor } from "./adapters.js";

export interface Stores {
  readonly db: Kysely<Database>;
  /** Redis on the configured topology (standalone, Sentinel, Cluster, or the embedded stand-in). */
  readonly redis: RedisClient;
  /**
   * With REDIS_WAIT_REPLICAS, the connection session writes go through, each followed by a WAIT
   * (which holds up its connection until the replicas answer, so session checks do not share it).
   */
  readonly sessionWriter: RedisClient | undefined;
  /** Sessions of the Redis layout before 2026-11-25 still to be moved as they turn up. */
  readonly legacySessions: LegacySessions;
  /** Held while the embedded database is open (see data-dir-lock.ts). */
  readonly lock: DataDirLock | undefined;
}

/** `observeQuery` runs around every query (tracing's spans, when tracing is on). */
export async function openStores(config: Config, logger: Logger, metrics: Metrics, observeQuery?: QueryObserver): Promise<Stores> {
  // The embedded database is this process's alone while it runs: the CLI refuses to open it
  // behind the service's back, and the service refuses to start while a command has it open.
  const lock = config.embedded.database ? lockDataDir(config.dataDir, "the auth service") : undefined;
  const db = openDatabaseFor(config, {
    onPoolError: (error) => {
      metrics.storeError("postgres");
      logger.warn({ err: error }, "PostgreSQL connection error");
    },
    onUnavailable: () => metrics.storeError("postgres"),
    observeQuery,
  });
  const redisHooks = redisHooksFor(logger, metrics);
  const redis = await openRedis(config.redis, redisHooks);
  const sessionWriter = config.redis.waitReplicas > 0 ? await openRedis(config.redis, redisHooks) : undefined;
  try {
    await prepareDatabase(db, config, logger);
    if (!(await waitForRedis(redis, 5000))) logger.warn("Redis is not reachable yet; calls needing it answer UNAVAILABLE until it is");
  } catch (error) {
    redis.disconnect();
    sessionWriter?.disconnect();
    await db.destroy();
    lock?.release();
    throw error;
  }
  return { db, redis, sessionWriter, lock, legacySessions: await moveLegacySessions(config, redis, logger) };
}

/** Counts and logs Redis connection errors (one line per 10 s: ioredis reports every failed attempt). */
export function redisHooksFor(logger: Logger, metrics: Metrics) {
  let lastRedisError = 0;
  return {
    onError(error: Error) {
      metrics.storeError("redis");
      if (Date.now() - lastRedisError > 10_000) logger.warn({ err: error }, "Redis connection error");
      lastRedisError = Date.now();
    },
    onUnavailable: () => metrics.storeError("redis"),
  };
}

/**
 * Moves sessions of the Redis layout before 2026-11-25 into the current one (see
 * infra/redis/legacy-sessions.ts). When Redis cannot be reached now, the store's fallbacks move
 * old sessions as they turn up, and the next start-up finishes the sweep.
 */
async function moveLegacySessions(config: Config, redis: RedisClient, logger: Logger): Promise<LegacySessions> {
  const maxLifetimeMs = config.policy.sessionMaxLifetimeMs;
  try {
    const upgrade = await upgradeSessionLayout(redis, config.redisKeyPrefix, maxLifetimeMs);
    if (upgrade.moved > 0) logger.info({ sessions: upgrade.moved }, "moved sessions to the current Redis key layout");
    return upgrade.legacy;
  } catch (error) {
    logger.warn({ err: error }, "could not look for sessions of the previous Redis key layout; moving them as they turn up");
    const until = Date.now() + maxLifetimeMs;
    return createLegacySessions(redis, config.redisKeyPrefix, maxLifetimeMs, () => until);
  }
}

/** Logs the users whose identifiers collided (ids only) until an operator resolves them. */
async function reportIdentifierConflicts(db: Kysely<Database>, logger: Logger): Promise<void> {
  const conflicts = await listIdentifierConflicts(db);
  if (conflicts.length === 0) return;
  logger.warn(
    {
      identifierConflicts: conflicts.length,
      conflicts: conflicts
        .slice(0, 50)
        .map(({ tenant, field, kind, userId, otherUserId }) => ({ tenant, field, kind, userId, otherUserId })),
    },
    "users whose email or username collides with an earlier user's cannot be found by it; run `authward identifier-conflicts` (`npm run cli -- identifier-conflicts` from the sources)",
  );
}

/** Runs the migrations, retrying while PostgreSQL is starting (as under docker-compose). */
async function prepareDatabase(db: Kysely<Database>, config: Config, logger: Logger): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      const applied = await migrateToLatest(db);
      if (applied.length > 0) logger.info({ migrations: applied }, "database migrated");
      await reportIdentifierConflicts(db, logger);
      await ensureTenant(db, config.policy.defaultTenant, config.policy.defaultTenant);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      logger.warn({ err: error, attempt }, "database not ready; retrying in 1 s");
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

export async function closeStores({ db, redis, sessionWriter, lock }: Stores): Promise<void> {
  await Promise.all([closeRedis(redis), sessionWriter === undefined ? undefined : closeRedis(sessionWriter)]);
  await db.destroy();
  lock?.release();
}

/**
 * The readiness check of /readyz and the health timer, single-flight: callers that come while a
 * check is running share it instead of each queueing a `select 1` for a pool connection and a PING
 * per master (a flood of /readyz would otherwise starve logins of connections and time out the
 * checks themselves). A finished result is not reused: the next caller starts a fresh check, so an
 * outage shows at once.
 */
export function storesReadinessCheck(stores: Stores): () => Promise<Readiness> {
  let running: Promise<Readiness> | undefined;
  return () => {
    running ??= storesReadiness(stores).finally(() => {
      running = undefined;
    });
    return running;
  };
}

/** Whether PostgreSQL and Redis (every master of a Cluster) answer within a second. */
async function storesReadiness({ db, redis }: Stores): Promise<Readiness> {
  const probe = (check: Promise<void>) =>
    withTimeout(check, 1000).then(
      () => "ok" as const,
      () => "unavailable" as const,
    );
  const [postgres, redisState] = await Promise.all([probe(pingDatabase(db)), probe(pingRedis(redis))]);
  return { ready: postgres === "ok" && redisState === "ok", checks: { postgres, redis: redisState } };
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}
