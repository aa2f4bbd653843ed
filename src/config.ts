/**
 * The service configuration: the only module that reads environment variables.
 *
 * `loadConfig(env)` reads every variable once, validates all of them, and either returns a frozen,
 * typed object or throws one `ConfigError` that names every bad variable. Nothing is read at import
 * time. `readEnvironment(process.env)` gives it the process's variables over those of `.env`
 * (config/environment.ts), and any variable NAME may be given as NAME_FILE, a file holding the
 * value (config/reader.ts). It reads one section per concern (listeners, stores, signing keys, the domain's policy,
 * password hashing, mail, operations, tracing), each key beside its environment variable; `.env.example`
 * and docs/configuration.md list the same variables with the same defaults. A nested object is a
 * section handed whole to one consumer: `jwt` to the key ring and the token signer, `policy` to the
 * domain flows, `embedded` to the start-up banner, `tracing` to src/tracing/.
 */

import { availableParallelism } from "node:os";
import { type AbuseLimitsConfig, type ClientAddressConfig, readAbuseLimits, readClientAddress } from "./config/abuse.js";
import { type GrantsCacheConfig, readCaches, type SessionCacheConfig } from "./config/caches.js";
import { type ConnectionLimits, readAllowedOrigins, readLimits, readTls, type TlsConfig } from "./config/edge.js";
import { type LegacyTokensConfig, readLegacyTokens } from "./config/legacy-tokens.js";
import { type MailConfig, readMail, readVerifyEmailUrlByApi } from "./config/mail.js";
import { readMfa } from "./config/mfa.js";
import { type ConfigReader, createConfigReader } from "./config/reader.js";
import { type RedisConfig, readRedis } from "./config/redis.js";
import { type JwtConfig, readJwt } from "./config/signing.js";
import { readTracing, type TracingConfig } from "./config/tracing.js";
import type { AuthPolicy } from "./domain/ports.js";
import { isTenantSlug } from "./domain/validation.js";

export type { AbuseLimitsConfig, Cidr, ClientAddressConfig } from "./config/abuse.js";
export { type AdminClientConfig, loadAdminClientConfig } from "./config/admin-client.js";
export type { ConnectionLimits, TlsConfig } from "./config/edge.js";
export { type EnvironmentOptions, readEnvironment } from "./config/environment.js";
export type { MailConfig } from "./config/mail.js";
export { ConfigError, parseDuration } from "./config/reader.js";
export { parseRedisAddresses, type RedisAddress, type RedisConfig, type RedisTopology } from "./config/redis.js";
export { JWT_ALGORITHMS, type JwtAlgorithm, type JwtConfig } from "./config/signing.js";
export type { OtlpProtocol, TraceSampler, TracingConfig } from "./config/tracing.js";

/** The seed APIs whose routes the service can serve (COMPAT_ROUTES). */
export const SEEDS = ["vidaplus", "vigia", "solicitud", "ucontact"] as const;
export type Seed = (typeof SEEDS)[number];

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];
/** A call's log line is ~300 bytes: 4 KB holds about a dozen (see logger.ts for what a crash can lose). */
const DEFAULT_LOG_BUFFER_BYTES = 4096;
/** Below sonic-boom's largest single write (16 KB). */
const MAX_LOG_BUFFER_BYTES = 8192;

/** The two ports, what they accept, and how the process starts and stops. */
export interface ListenerConfig {
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly maxRequestBytes: number;
  readonly shutdownTimeoutMs: number;
  /** How often grpc.health.v1 rechecks PostgreSQL and Redis. */
  readonly healthCheckIntervalMs: number;
  /** Processes serving both ports (node:cluster); 1 in embedded mode. */
  readonly workers: number;
  /** How long a cluster worker may take to listen (migrations included) before the primary gives up. */
  readonly workerStartTimeoutMs: number;
  /** Benchmarks only: serve an empty RPC on the gRPC port to measure the floor against. */
  readonly benchFloor: boolean;
  /**
   * Public base URL: the default issuer, the base of mailed links and of the JWKS address. With
   * DATABASE_URL set it is PUBLIC_URL, or JWT_ISSUER when that is an http(s) URL.
   */
  readonly publicUrl: string;
  /** The seed APIs whose compatible routes are served (COMPAT_ROUTES). */
  readonly compatRoutes: readonly Seed[];
  /** How long and how much one client may hold of either port; handed whole to both servers. */
  readonly limits: ConnectionLimits;
  /** TLS on both ports (TLS_CERT_FILE and TLS_KEY_FILE); undefined: cleartext (h2c and HTTP/1.1). */
  readonly tls: TlsConfig | undefined;
  /** Origins whose browser apps may call the HTTP port (CORS_ALLOWED_ORIGINS); none by default. */
  readonly cors: { readonly allowedOrigins: readonly string[] };
  /** The operators' listener for GET /metrics, apart from the API ports. */
  readonly metrics: { readonly host: string; readonly port: number };
}

/** PostgreSQL and Redis, or their embedded stand-ins. */
export interface StoreConfig {
  /** PostgreSQL URL; undefined means embedded PGlite under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly databasePoolMax: number;
  /** Redis: the topology (standalone, Sentinel, Cluster, or the in-process stand-in), credentials, TLS. */
  readonly redis: RedisConfig;
  /** REDIS_KEY_PREFIX: the start of every key (no braces: they would take over the hash tags). */
  readonly redisKeyPrefix: string;
  readonly dataDir: string;
  /** True when PostgreSQL or Redis is the embedded stand-in. */
  readonly embedded: { readonly database: boolean; readonly redis: boolean };
}

/** bcrypt: how much work, on how many threads. */
export interface PasswordHashingConfig {
  readonly bcryptCost: number;
  /** Threads running bcrypt in each process (at a lower priority than the event loop). */
  readonly bcryptThreads: number;
}

export interface OperationsConfig {
  readonly logLevel: LogLevel;
  /** Log bytes held before a write to stdout (LOG_BUFFER_BYTES; 0: each line as it comes); see logger.ts. */
  readonly logBufferBytes: number;
  /** The password `cli create-admin` gives a new admin (ADMIN_PASSWORD); read only by the CLI. */
  readonly adminPassword: string | undefined;
  /** An administrator's access token for the CLI's AdminService commands (AUTH_ADMIN_TOKEN); read only by the CLI. */
  readonly adminToken: string | undefined;
}

export interface Config extends ListenerConfig, StoreConfig, PasswordHashingConfig, MailConfig, OperationsConfig {
  readonly jwt: JwtConfig;
  /** The old APIs' legacy token profiles (LEGACY_TOKEN_<API>_SECRET, _TTL); none by default. */
  readonly legacyTokens: LegacyTokensConfig;
  /** The abuse limits, handed to their Redis adapter. */
  readonly abuse: AbuseLimitsConfig;
  /** The client address behind trusted proxies, handed to the call envelope. */
  readonly clientAddress: ClientAddressConfig;
  /** The domain's policy: lifetimes, password rules, mailed links; handed to the flows as it is. */
  readonly policy: AuthPolicy;
  readonly grantsCache: GrantsCacheConfig;
  /** OpenTelemetry traces (the standard OTEL_* variables, config/tracing.ts); undefined: off, and no OpenTelemetry code loaded. */
  readonly tracing: TracingConfig | undefined;
  readonly sessionCache: SessionCacheConfig;
}

type Env = Readonly<Record<string, string | undefined>>;

export interface LoadOptions {
  /** Reads the files that NAME_FILE variables name; tests pass their own. */
  readonly readFile?: (path: string) => string;
  /** False for commands that never sign tokens (migrate): the signing key is then not required. */
  readonly signingKeyRequired?: boolean;
  /**
   * False for commands that serve no calls (the CLI): they mail nothing and issue no tokens, so
   * neither the public URL nor a mail destination is required.
   */
  readonly serving?: boolean;
}

/** Reads and validates the whole configuration from `env` (process.env in production). */
export function loadConfig(env: Env, options: LoadOptions = {}): Config {
  const r = createConfigReader(env, options.readFile === undefined ? {} : { readFile: options.readFile });
  const serving = options.serving !== false;
  const stores = readStores(r);
  const listeners = readListeners(r, stores, serving);
  const jwt = readJwt(r, { databaseEmbedded: stores.embedded.database, publicUrl: listeners.publicUrl, ...options });
  const config: Config = {
    ...listeners,
    ...stores,
    jwt,
    legacyTokens: readLegacyTokens(r, { compatRoutes: listeners.compatRoutes, jwtSecret: jwt.secret }),
    policy: readPolicy(r, listeners.publicUrl),
    abuse: readAbuseLimits(r),
    clientAddress: readClientAddress(r),
    ...readCaches(r),
    ...readPasswordHashing(r, listeners.workers),
    ...readMail(r, stores, serving),
    ...readOperations(r),
    tracing: readTracing(r),
  };
  r.throwIfProblems();
  return deepFreeze(config);
}

function readStores(r: ConfigReader): StoreConfig {
  const databaseUrl = r.url("DATABASE_URL", ["postgres:", "postgresql:"]);
  const redis = readRedis(r);
  const redisKeyPrefix = r.str("REDIS_KEY_PREFIX", "auth:");
  // Session keys take their Redis Cluster slot from the user's id in braces: a brace in the prefix
  // would take over that hash tag.
  if (/[{}]/.test(redisKeyPrefix)) r.problem(`REDIS_KEY_PREFIX=${redisKeyPrefix}: must not contain '{' or '}'`);
  return {
    databaseUrl,
    databasePoolMax: r.int("DATABASE_POOL_MAX", 10, 1, 1000),
    redis,
    redisKeyPrefix,
    dataDir: r.str("DATA_DIR", ".data"),
    embedded: { database: databaseUrl === undefined, redis: redis.topology.kind === "embedded" },
  };
}

function readListeners(r: ConfigReader, stores: StoreConfig, serving: boolean): ListenerConfig {
  const httpPort = r.int("HTTP_PORT", 8080, 0, 65535);
  const embedded = stores.embedded.database || stores.embedded.redis;
  // The embedded stores live inside one process: several workers would each have their own.
  const workers = r.int("WORKERS", embedded ? 1 : availableParallelism(), 1, 256);
  if (embedded && workers > 1) {
    r.problem(
      `WORKERS=${workers}: embedded mode (no DATABASE_URL, or no REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS) runs in one process`,
    );
  }
  return {
    host: r.str("HOST", "0.0.0.0"),
    grpcPort: r.int("GRPC_PORT", 50051, 0, 65535),
    httpPort,
    maxRequestBytes: r.int("MAX_REQUEST_BYTES", 262_144, 1024, 16_777_216),
    shutdownTimeoutMs: r.duration("SHUTDOWN_TIMEOUT", "8s", 0),
    healthCheckIntervalMs: r.duration("HEALTH_CHECK_INTERVAL", "2s", 100),
    workers,
    // Migrations run at start-up and may take a while on a large database; run them first with
    // `npm run migrate` (or raise this) rather than let the primary give up mid-migration.
    workerStartTimeoutMs: r.duration("WORKER_START_TIMEOUT", "2m", 1000),
    benchFloor: r.bool("BENCH_FLOOR", false),
    publicUrl: readPublicUrl(r, stores, httpPort, serving),
    compatRoutes: readCompatRoutes(r),
    limits: readLimits(r),
    tls: readTls(r),
    cors: { allowedOrigins: readAllowedOrigins(r) },
    metrics: { host: r.str("METRICS_HOST", "127.0.0.1"), port: r.int("METRICS_PORT", 9464, 0, 65535) },
  };
}

/**
 * PUBLIC_URL, the default issuer. Embedded, it defaults to http://localhost:$HTTP_PORT. With
 * DATABASE_URL set it must be said: that default differs between instances on different ports,
 * which then refuse each other's tokens (WRONG_ISSUER), and mailed links would point at localhost.
 * A JWT_ISSUER that is an http(s) URL stands for it (it is read here only to decide that).
 */
function readPublicUrl(r: ConfigReader, stores: StoreConfig, httpPort: number, serving: boolean): string {
  const trim = (url: string) => url.replace(/\/+$/, "");
  const publicUrl = r.url("PUBLIC_URL", ["http:", "https:"]);
  if (publicUrl !== undefined) return trim(publicUrl);
  const fallback = `http://localhost:${httpPort}`;
  if (stores.embedded.database || !serving) return fallback;
  const issuer = r.raw("JWT_ISSUER");
  if (issuer === undefined) {
    r.problem(
      `PUBLIC_URL (or JWT_ISSUER): one is required when DATABASE_URL is set. The default issuer, ${fallback}, ` +
        "depends on HTTP_PORT, so instances on different ports would refuse each other's tokens; set PUBLIC_URL " +
        "to the address clients reach the service at (it is also the issuer and the base of mailed links)",
    );
    return fallback;
  }
  if (!/^https?:\/\/[^/]/i.test(issuer) || !URL.canParse(issuer)) {
    r.problem(
      "PUBLIC_URL: required when DATABASE_URL is set and JWT_ISSUER is not an http(s) URL: mailed links and the " +
        "JWKS address are built from it",
    );
    return fallback;
  }
  return trim(issuer);
}

function readCompatRoutes(r: ConfigReader): Seed[] {
  const text = r.str("COMPAT_ROUTES", "all").toLowerCase();
  if (text === "all") return [...SEEDS];
  if (text === "none") return [];
  const seeds: Seed[] = [];
  for (const name of text.split(",").map((n) => n.trim())) {
    if ((SEEDS as readonly string[]).includes(name)) seeds.push(name as Seed);
    else r.problem(`COMPAT_ROUTES=${text}: expected all, none, or a list of ${SEEDS.join(", ")}`);
  }
  return seeds;
}

/** The domain's policy: session and token lifetimes, password and account rules, mailed links. */
function readPolicy(r: ConfigReader, publicUrl: string): AuthPolicy {
  const policy: AuthPolicy = {
    accessTokenTtlMs: r.duration("ACCESS_TOKEN_TTL", "15m", 1000),
    maxTokenBytes: r.int("MAX_TOKEN_BYTES", 8192, 512, 1_048_576),
    refreshTokenTtlMs: r.duration("REFRESH_TOKEN_TTL", "7d", 1000),
    sessionMaxLifetimeMs: r.duration("SESSION_MAX_LIFETIME", "30d", 1000),
    sessionsPerUserMax: r.int("SESSIONS_PER_USER_MAX", 100, 0, 100_000),
    refreshReuseGraceMs: r.duration("REFRESH_REUSE_GRACE", "10s", 0),
    passwordMinLength: r.int("PASSWORD_MIN_LENGTH", 8, 6, 64),
    requireVerifiedEmail: r.bool("REQUIRE_VERIFIED_EMAIL", false),
    defaultTenant: r.str("DEFAULT_TENANT", "default"),
    emailTokenTtlMs: r.duration("EMAIL_TOKEN_TTL", "24h", 1000),
    resetTokenTtlMs: r.duration("RESET_TOKEN_TTL", "15m", 1000),
    verifyEmailUrl: r.url("EMAIL_VERIFY_URL", ["http:", "https:"]) ?? `${publicUrl}/v1/auth/verify-email`,
    verifyEmailUrlByApi: readVerifyEmailUrlByApi(r, publicUrl),
    resetPasswordUrl: r.url("PASSWORD_RESET_URL", ["http:", "https:"]) ?? `${publicUrl}/reset-password`,
    inviteTokenTtlMs: r.duration("INVITE_TOKEN_TTL", "7d", 1000),
    platformTenant: r.str("PLATFORM_TENANT", "system"),
    ...readMfa(r),
  };
  if (policy.refreshTokenTtlMs > policy.sessionMaxLifetimeMs) {
    r.problem("REFRESH_TOKEN_TTL: must not exceed SESSION_MAX_LIFETIME");
  }
  if (policy.refreshReuseGraceMs >= policy.refreshTokenTtlMs) {
    r.problem("REFRESH_REUSE_GRACE: must be shorter than REFRESH_TOKEN_TTL");
  }
  if (!isTenantSlug(policy.defaultTenant)) {
    r.problem(`DEFAULT_TENANT=${policy.defaultTenant}: expected a slug of lowercase letters, digits and dashes`);
  }
  if (!isTenantSlug(policy.platformTenant)) {
    r.problem(`PLATFORM_TENANT=${policy.platformTenant}: expected a slug of lowercase letters, digits and dashes`);
  }
  // Anyone may register into the default tenant; the platform tenant's users administer everything.
  if (policy.platformTenant === policy.defaultTenant) r.problem("PLATFORM_TENANT: must differ from DEFAULT_TENANT");
  return policy;
}

function readPasswordHashing(r: ConfigReader, workers: number): PasswordHashingConfig {
  return {
    bcryptCost: r.int("BCRYPT_COST", 12, 4, 31),
    // Together, the workers' bcrypt threads use every core and no more.
    bcryptThreads: r.int("BCRYPT_THREADS", Math.max(1, Math.floor(availableParallelism() / workers)), 1, 256),
  };
}

function readOperations(r: ConfigReader): OperationsConfig {
  const logLevel = r.str("LOG_LEVEL", "info").toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) r.problem(`LOG_LEVEL=${logLevel}: expected one of ${LOG_LEVELS.join(", ")}`);
  return {
    logLevel,
    logBufferBytes: r.int("LOG_BUFFER_BYTES", DEFAULT_LOG_BUFFER_BYTES, 0, MAX_LOG_BUFFER_BYTES),
    // Not trimmed: a password's spaces are its own (ADMIN_PASSWORD_FILE drops one trailing newline).
    adminPassword: r.verbatim("ADMIN_PASSWORD"),
    adminToken: r.raw("AUTH_ADMIN_TOKEN"),
  };
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === "object") deepFreeze(child as object);
  }
  return Object.freeze(value);
}
