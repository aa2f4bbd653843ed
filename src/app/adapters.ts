/**
 * The adapters the configuration asks for, each built in one place: the service (src/app.ts), the
 * CLI (src/cli.ts) and the benchmarks' seeding (bench/lib/seed.ts) all call these instead of
 * mapping configuration keys to adapter options themselves.
 */
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { AdminDeps } from "../domain/admin/ports.js";
import type { AuthDeps, Background, Clock, Grants, Mailer, SecurityEvents, SessionStore } from "../domain/ports.js";
import { TENANT_PASSWORD_MIN_FLOOR } from "../domain/tenants.js";
import { type AccessTokensWithCache, createAccessTokens } from "../infra/crypto/access-tokens.js";
import { loadCommonPasswords } from "../infra/crypto/common-passwords.js";
import type { KeyRing } from "../infra/crypto/key-ring.js";
import { secondFactorKey } from "../infra/crypto/key-setup.js";
import { type ClosablePasswordHasher, createPasswordHasher } from "../infra/crypto/passwords.js";
import { createSecretBox } from "../infra/crypto/secret-box.js";
import { createGrantsCache, type GrantsCache, grantsChannel } from "../infra/grants.js";
import { createOutboxMailer } from "../infra/mail/outbox.js";
import { createSmtpMailer } from "../infra/mail/smtp.js";
import { createAuditTrail } from "../infra/postgres/audit.js";
import { openDatabase } from "../infra/postgres/database.js";
import { createOneTimeTokens } from "../infra/postgres/one-time-tokens.js";
import { createRoleStore } from "../infra/postgres/roles.js";
import type { Database } from "../infra/postgres/schema.js";
import { createSecondFactorStore } from "../infra/postgres/second-factors.js";
import { createTenantStore } from "../infra/postgres/tenants.js";
import type { QueryObserver } from "../infra/postgres/unavailable.js";
import { createUserDirectory } from "../infra/postgres/user-directory.js";
import { createUserRepository } from "../infra/postgres/users.js";
import { type AbuseLimits, type AbuseLimitsHooks, createAbuseLimits } from "../infra/redis/abuse-limits.js";
import type { RedisClient } from "../infra/redis/client.js";
import { withEndingBarriers } from "../infra/redis/ending-barriers.js";
import { DEFAULT_TIMING } from "../infra/redis/key-tracking.js";
import type { LegacySessions } from "../infra/redis/legacy-sessions.js";
import { createMfaTickets } from "../infra/redis/mfa-tickets.js";
import { type CachedLiveness, cachedLiveness } from "../infra/redis/session-liveness.js";
import { createSessionStore } from "../infra/redis/sessions.js";
import { trackingFor } from "../infra/redis/tracking-topology.js";

/**
 * bcrypt's threads yield to the event loops: a login storm then slows logins, not every other
 * call. Nice 10 gives an event loop about nine times bcrypt's share of a contended core.
 */
const BCRYPT_NICENESS = 10;

export interface DatabaseHooks {
  /** Connections; DATABASE_POOL_MAX unless a command needs fewer. */
  readonly poolMax?: number;
  readonly onPoolError: (error: Error) => void;
  readonly onUnavailable?: () => void;
  /** Runs around every query: tracing's spans, when tracing is on. */
  readonly observeQuery?: QueryObserver;
}

/** PostgreSQL at DATABASE_URL, or the embedded PGlite under DATA_DIR. */
export function openDatabaseFor(config: Config, hooks: DatabaseHooks): Kysely<Database> {
  return openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolMax: hooks.poolMax ?? config.databasePoolMax, ...hooks });
}

export interface SessionStoreParts {
  /** Sessions of the previous Redis layout still to be moved (see infra/redis/legacy-sessions.ts). */
  readonly legacy?: LegacySessions | undefined;
  /** With REDIS_WAIT_REPLICAS, the connection writes go through (default: `redis` itself). */
  readonly writer?: RedisClient | undefined;
}

/** Sessions in Redis; with REDIS_WAIT_REPLICAS, each write waits for that many replicas. */
export function sessionStoreFor(config: Config, redis: RedisClient, parts: SessionStoreParts = {}): SessionStore {
  const { waitReplicas, waitTimeoutMs } = config.redis;
  const store = createSessionStore(redis, config.redisKeyPrefix, config.policy.sessionMaxLifetimeMs, {
    legacy: parts.legacy,
    durability: waitReplicas > 0 ? { writer: parts.writer ?? redis, replicas: waitReplicas, timeoutMs: waitTimeoutMs } : undefined,
    userCopyTtlMs: config.sessionCache.userTtlMs,
  });
  // Ending calls return once Redis has sent their invalidations to every instance (ending-barriers.ts).
  return withEndingBarriers(store, config.redisKeyPrefix, (key) => redis.exists(key));
}

/**
 * The store with session liveness cached in this process and invalidated by Redis
 * (SESSION_CACHE_SIZE; infra/redis/session-liveness.ts), on any topology. Not for the embedded
 * stand-in, which is in this process already; without a cache every check reads Redis.
 */
export function sessionLivenessFor(
  config: Config,
  store: SessionStore,
  redis: RedisClient,
  legacy: LegacySessions,
  logger: Logger,
): CachedLiveness | undefined {
  if (config.sessionCache.size === 0) return undefined;
  const tracking = trackingFor(config.redis, redis, {
    ...DEFAULT_TIMING,
    onProblem: (problem, error) =>
      logger.warn({ err: error }, `session cache: ${problem}; sessions are read from Redis until client-side caching is up again`),
    onDefaultPriority: (wanted) =>
      logger.warn(
        { wanted },
        "session cache: the invalidation thread runs at the default priority (raising it needs root, CAP_SYS_NICE or RLIMIT_NICE >= 30, e.g. `ulimits: nice: 30` in compose); a revocation under full CPU load then takes several ms to reach this process instead of under one (BENCHMARKS.md)",
      ),
  });
  if (tracking === undefined) return undefined;
  return cachedLiveness(store, tracking, { prefix: config.redisKeyPrefix, capacity: config.sessionCache.size, legacy });
}

export function accessTokensFor(config: Config, keyRing: KeyRing): AccessTokensWithCache {
  return createAccessTokens(keyRing, {
    issuer: config.jwt.issuer,
    audience: config.jwt.audience,
    ttlMs: config.policy.accessTokenTtlMs,
    clockSkewMs: config.jwt.clockSkewMs,
    verifiedCacheSize: config.jwt.verifiedCacheSize,
    legacy: config.legacyTokens,
  });
}

/** bcrypt at BCRYPT_COST; the service runs it on BCRYPT_THREADS low-priority threads, a command on the default pool. */
export function passwordHasherFor(config: Config, use: "service" | "command"): Promise<ClosablePasswordHasher> {
  if (use === "command") return createPasswordHasher(config.bcryptCost);
  return createPasswordHasher(config.bcryptCost, { threads: config.bcryptThreads, niceness: BCRYPT_NICENESS });
}

/**
 * The blocklist of common passwords long enough to pass a password minimum: down to the shortest a
 * tenant may choose (6), so that a tenant at 6 still refuses common 6-letter passwords.
 */
export function commonPasswordsFor(config: Config) {
  return loadCommonPasswords(Math.min(TENANT_PASSWORD_MIN_FLOOR, config.policy.passwordMinLength));
}

/** The per-process cache of users' roles and permissions (GRANTS_CACHE_TTL, GRANTS_CACHE_SIZE); changes announced on Redis. */
export function grantsFor(config: Config, db: Kysely<Database>, redis: RedisClient, logger: Logger): GrantsCache {
  return createGrantsCache(db, {
    ttlMs: config.grantsCache.ttlMs,
    maxUsers: config.grantsCache.maxUsers,
    // The embedded stand-in serves one process, whose own changes apply directly.
    publisher: config.embedded.redis ? undefined : redis,
    channel: grantsChannel(config.redisKeyPrefix),
    logger,
  });
}

/** SMTP at SMTP_URL, or the outbox folder. */
export function mailerFor(config: Config, logger: Logger): { readonly mailer: Mailer; close(): void } {
  if (config.smtpUrl !== undefined) {
    const smtp = createSmtpMailer(config.smtpUrl, config.mailFrom);
    return { mailer: smtp, close: () => smtp.close() };
  }
  logger.warn({ outbox: config.mailOutboxDir }, "no SMTP_URL: mail is written to the outbox folder");
  return { mailer: createOutboxMailer(config.mailOutboxDir, config.mailFrom, logger), close: () => {} };
}

/** The abuse limits of the configuration on Redis (the service's, and the CLI's `unlock`). */
export function abuseLimitsFor(config: Config, redis: RedisClient, hooks: AbuseLimitsHooks = {}): AbuseLimits {
  return createAbuseLimits(redis, config.redisKeyPrefix, config.abuse, hooks);
}

/** What `createAuthDeps` needs that has a lifecycle of its own (opened and closed by the caller). */
export interface AuthDepsParts {
  readonly db: Kysely<Database>;
  readonly redis: RedisClient;
  /** See Stores.sessionWriter. */
  readonly sessionWriter?: RedisClient | undefined;
  readonly keyRing: KeyRing;
  readonly passwords: ClosablePasswordHasher;
  readonly mailer: Mailer;
  readonly background: Background;
  readonly events: SecurityEvents;
  readonly clock: Clock;
  readonly legacySessions?: LegacySessions;
  readonly grants: Grants;
  /** Hears refusals and outages of the abuse limits (the metrics). */
  readonly limitHooks?: AbuseLimitsHooks;
  /** The session store, when the caller made it (with its liveness cache); otherwise one over `redis`. */
  readonly sessions?: SessionStore;
}

/** Every port the flows use, over the stores; the policy is the configuration's own section. */
export function createAuthDeps(config: Config, parts: AuthDepsParts): AuthDeps {
  const limits = abuseLimitsFor(config, parts.redis, parts.limitHooks);
  return {
    users: createUserRepository(parts.db),
    tenants: createTenantStore(parts.db),
    grants: parts.grants,
    sessions: parts.sessions ?? sessionStoreFor(config, parts.redis, { legacy: parts.legacySessions, writer: parts.sessionWriter }),
    passwords: parts.passwords,
    commonPasswords: commonPasswordsFor(config),
    tokens: accessTokensFor(config, parts.keyRing),
    oneTimeTokens: createOneTimeTokens(parts.db),
    mailer: parts.mailer,
    loginThrottle: limits.loginThrottle,
    mailThrottle: limits.mailThrottle,
    background: parts.background,
    events: parts.events,
    secondFactors: createSecondFactorStore(parts.db),
    secretBox: createSecretBox(secondFactorKey(config)),
    mfaTickets: createMfaTickets(parts.redis, config.redisKeyPrefix),
    secondFactorThrottle: limits.secondFactorThrottle,
    clock: parts.clock,
    policy: config.policy,
  };
}

/** The AuthService's ports plus the administration's. */
export function createAdminDeps(auth: AuthDeps, db: Kysely<Database>): AdminDeps {
  return {
    ...auth,
    directory: createUserDirectory(db),
    roles: createRoleStore(db),
    audit: createAuditTrail(db),
  };
}
