/**
 * The adapters the configuration asks for, each built in one place: the service (src/app.ts), the
 * CLI (src/cli.ts) and the benchmarks' seeding (bench/lib/seed.ts) all call these instead of
 * mapping configuration keys to adapter options themselves.
 */
import type { Redis } from "ioredis";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { AdminDeps } from "../domain/admin/ports.js";
import type { AuthDeps, Background, Clock, Grants, Mailer, SecurityEvents, SessionStore } from "../domain/ports.js";
import { TENANT_PASSWORD_MIN_FLOOR } from "../domain/tenants.js";
import { type AccessTokensWithCache, createAccessTokens } from "../infra/crypto/access-tokens.js";
import { loadCommonPasswords } from "../infra/crypto/common-passwords.js";
import type { KeyRing } from "../infra/crypto/key-ring.js";
import { keyRotationChannel, secondFactorKey } from "../infra/crypto/key-setup.js";
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
import { createUserDirectory } from "../infra/postgres/user-directory.js";
import { createUserRepository } from "../infra/postgres/users.js";
import type { LegacySessions } from "../infra/redis/legacy-sessions.js";
import { createMfaTickets } from "../infra/redis/mfa-tickets.js";
import { createRateLimiter, createSecondFactorThrottle } from "../infra/redis/rate-limit.js";
import { createSessionStore } from "../infra/redis/sessions.js";

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
}

/** PostgreSQL at DATABASE_URL, or the embedded PGlite under DATA_DIR. */
export function openDatabaseFor(config: Config, hooks: DatabaseHooks): Kysely<Database> {
  return openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, poolMax: hooks.poolMax ?? config.databasePoolMax, ...hooks });
}

/** `legacy`: sessions of the previous Redis layout still to be moved (see infra/redis/legacy-sessions.ts). */
export function sessionStoreFor(config: Config, redis: Redis, legacy?: LegacySessions): SessionStore {
  return createSessionStore(redis, config.redisKeyPrefix, config.policy.sessionMaxLifetimeMs, { legacy });
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
export function grantsFor(config: Config, db: Kysely<Database>, redis: Redis, logger: Logger): GrantsCache {
  return createGrantsCache(db, {
    ttlMs: config.grantsCache.ttlMs,
    maxUsers: config.grantsCache.maxUsers,
    // The embedded stand-in serves one process, whose own changes apply directly.
    publisher: config.redisUrl === undefined ? undefined : redis,
    channel: grantsChannel(config.redisKeyPrefix),
    logger,
  });
}

/**
 * Forgets cached grants when another instance announces a change of roles or permissions, and
 * everything after the subscription was interrupted (a notice may have been missed meanwhile).
 * A real Redis only, as for key rotations.
 */
export function listenForGrantChanges(config: Config, redis: Redis, grants: GrantsCache): Redis | undefined {
  if (config.redisUrl === undefined) return undefined;
  const subscriber = redis.duplicate({ enableOfflineQueue: true });
  subscriber.on("error", () => {
    // Reported by the main connection's listener; entries still expire after GRANTS_CACHE_TTL.
  });
  let subscribedBefore = false;
  subscriber.on("ready", () => {
    if (subscribedBefore) grants.clear();
    subscribedBefore = true;
  });
  subscriber.subscribe(grantsChannel(config.redisKeyPrefix)).catch(() => {});
  subscriber.on("message", (_channel: string, message: string) => grants.apply(message));
  return subscriber;
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

/** What `createAuthDeps` needs that has a lifecycle of its own (opened and closed by the caller). */
export interface AuthDepsParts {
  readonly db: Kysely<Database>;
  readonly redis: Redis;
  readonly keyRing: KeyRing;
  readonly passwords: ClosablePasswordHasher;
  readonly mailer: Mailer;
  readonly background: Background;
  readonly events: SecurityEvents;
  readonly clock: Clock;
  readonly legacySessions?: LegacySessions;
  readonly grants: Grants;
}

/** Every port the flows use, over the stores; the policy is the configuration's own section. */
export function createAuthDeps(config: Config, parts: AuthDepsParts): AuthDeps {
  const rateLimiter = createRateLimiter(parts.redis, config.redisKeyPrefix);
  return {
    users: createUserRepository(parts.db),
    tenants: createTenantStore(parts.db),
    grants: parts.grants,
    sessions: sessionStoreFor(config, parts.redis, parts.legacySessions),
    passwords: parts.passwords,
    commonPasswords: commonPasswordsFor(config),
    tokens: accessTokensFor(config, parts.keyRing),
    oneTimeTokens: createOneTimeTokens(parts.db),
    mailer: parts.mailer,
    rateLimiter,
    background: parts.background,
    events: parts.events,
    secondFactors: createSecondFactorStore(parts.db),
    secretBox: createSecretBox(secondFactorKey(config)),
    mfaTickets: createMfaTickets(parts.redis, config.redisKeyPrefix),
    secondFactorThrottle: createSecondFactorThrottle(rateLimiter),
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

/**
 * Reloads the key ring when `cli keys rotate` announces a rotation (a real Redis only: the embedded
 * stand-in serves one process, which polls and reloads on unknown kids anyway).
 */
export function listenForKeyRotations(config: Config, redis: Redis, ring: KeyRing, logger: Logger): Redis | undefined {
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
