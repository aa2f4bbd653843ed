/**
 * The service configuration: the only module that reads environment variables.
 *
 * `loadConfig(env)` reads every variable once, validates all of them, and either returns a frozen,
 * typed object or throws one `ConfigError` that names every bad variable. Nothing is read at import
 * time. `.env.example` and the README list the same variables with the same defaults.
 */

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";

export const JWT_ALGORITHMS = ["ES256", "EdDSA", "RS256", "HS256"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];
/** The seed APIs whose routes the service can serve (COMPAT_ROUTES). */
export const SEEDS = ["vidaplus", "vigia", "solicitud", "ucontact"] as const;
export type Seed = (typeof SEEDS)[number];

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface Config {
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** PostgreSQL URL; undefined means embedded PGlite under `dataDir`. */
  readonly databaseUrl: string | undefined;
  readonly databasePoolMax: number;
  /** Redis URL; undefined means the in-process stand-in. */
  readonly redisUrl: string | undefined;
  readonly redisKeyPrefix: string;
  readonly dataDir: string;
  readonly jwt: {
    readonly issuer: string;
    readonly audience: string;
    /** The algorithm of the configured key, or of the keys the ring generates. */
    readonly algorithm: JwtAlgorithm;
    /**
     * `configured`: one key from JWT_PRIVATE_KEY(_FILE) or JWT_SECRET. `ring`: the rotatable key
     * ring in the database, private keys encrypted under `keyEncryptionKey`.
     */
    readonly keySource: "configured" | "ring";
    /** HS256 secret (UTF-8 bytes), only with HS256. */
    readonly secret: string | undefined;
    /** PEM or JWK JSON of the private key, from JWT_PRIVATE_KEY or the file. */
    readonly privateKey: string | undefined;
    /** Base64 of the 32-byte key that encrypts the ring's private keys (embedded mode makes one). */
    readonly keyEncryptionKey: string | undefined;
    readonly keyReloadIntervalMs: number;
    readonly clockSkewMs: number;
    readonly maxTokenBytes: number;
    /** Verified tokens remembered per process, so the signature of a token seen before is not checked again. */
    readonly verifiedCacheSize: number;
  };
  readonly accessTokenTtlMs: number;
  readonly refreshTokenTtlMs: number;
  readonly sessionMaxLifetimeMs: number;
  readonly refreshReuseGraceMs: number;
  readonly emailTokenTtlMs: number;
  readonly resetTokenTtlMs: number;
  readonly bcryptCost: number;
  /** Threads running bcrypt in each process (at a lower priority than the event loop). */
  readonly bcryptThreads: number;
  readonly passwordMinLength: number;
  readonly requireVerifiedEmail: boolean;
  readonly defaultTenant: string;
  readonly smtpUrl: string | undefined;
  readonly mailFrom: string;
  readonly publicUrl: string;
  /** Base of verification links (the token is added as `?token=`). */
  readonly verifyEmailUrl: string;
  /** Base of password reset links: a page of your app that posts the token to ResetPassword. */
  readonly resetPasswordUrl: string;
  readonly mailsPerAddressPerHour: number;
  /** The seed APIs whose compatible routes are served (COMPAT_ROUTES). */
  readonly compatRoutes: readonly Seed[];
  /** The password `cli create-admin` gives a new admin (ADMIN_PASSWORD); read only by the CLI. */
  readonly adminPassword: string | undefined;
  readonly logLevel: LogLevel;
  readonly maxRequestBytes: number;
  readonly shutdownTimeoutMs: number;
  /** How often grpc.health.v1 rechecks PostgreSQL and Redis. */
  readonly healthCheckIntervalMs: number;
  /** Processes serving both ports (node:cluster); 1 in embedded mode. */
  readonly workers: number;
  /** Benchmarks only: serve an empty RPC on the gRPC port to measure the floor against. */
  readonly benchFloor: boolean;
  /** True when PostgreSQL or Redis is the embedded stand-in. */
  readonly embedded: { readonly database: boolean; readonly redis: boolean };
}

/** Start-up refused: one line per bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Parses `500ms`, `10s`, `15m`, `24h`, `7d` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  return Number(amount) * durationUnits[unit as keyof typeof durationUnits];
}

const tenantSlug = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const logLevels: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

type Env = Readonly<Record<string, string | undefined>>;

export interface LoadOptions {
  /** Reads JWT_PRIVATE_KEY_FILE; tests pass their own. */
  readonly readFile?: (path: string) => string;
  /** False for commands that never sign tokens (migrate): the signing key is then not required. */
  readonly signingKeyRequired?: boolean;
}

/** Reads and validates the whole configuration from `env` (process.env in production). */
export function loadConfig(env: Env, options: LoadOptions = {}): Config {
  const readFile = options.readFile ?? defaultReadFile;
  const problems: string[] = [];
  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  const str = (name: string, fallback: string): string => raw(name) ?? fallback;
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const value = raw(name);
    if (value === undefined) return fallback;
    const n = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      problems.push(`${name}=${value}: expected a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const duration = (name: string, fallback: string, minMs: number): number => {
    const value = raw(name) ?? fallback;
    const ms = parseDuration(value);
    if (ms === undefined) {
      problems.push(`${name}=${value}: expected a duration such as 500ms, 10s, 15m, 24h or 7d`);
      return parseDuration(fallback) ?? 0;
    }
    if (ms < minMs) {
      problems.push(`${name}=${value}: must be at least ${minMs} ms`);
    }
    return ms;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const value = raw(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (["true", "1", "yes", "on"].includes(value)) return true;
    if (["false", "0", "no", "off"].includes(value)) return false;
    problems.push(`${name}=${value}: expected true or false`);
    return fallback;
  };
  const url = (name: string, protocols: readonly string[]): string | undefined => {
    const value = raw(name);
    if (value === undefined) return undefined;
    try {
      const parsed = new URL(value);
      if (!protocols.includes(parsed.protocol)) {
        problems.push(`${name}: expected a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`);
      }
    } catch {
      // The value may hold a password: name the variable, never echo it.
      problems.push(`${name}: not a valid URL`);
    }
    return value;
  };

  const host = str("HOST", "0.0.0.0");
  const grpcPort = int("GRPC_PORT", 50051, 0, 65535);
  const httpPort = int("HTTP_PORT", 8080, 0, 65535);
  const databaseUrl = url("DATABASE_URL", ["postgres:", "postgresql:"]);
  const databasePoolMax = int("DATABASE_POOL_MAX", 10, 1, 1000);
  const redisUrl = url("REDIS_URL", ["redis:", "rediss:"]);
  const redisKeyPrefix = str("REDIS_KEY_PREFIX", "auth:");
  const dataDir = str("DATA_DIR", ".data");
  const publicUrl = (url("PUBLIC_URL", ["http:", "https:"]) ?? `http://localhost:${httpPort}`).replace(/\/+$/, "");

  const algorithmText = str("JWT_ALGORITHM", "ES256");
  const algorithm = JWT_ALGORITHMS.find((a) => a.toLowerCase() === algorithmText.toLowerCase()) ?? "ES256";
  if (algorithm.toLowerCase() !== algorithmText.toLowerCase()) {
    problems.push(`JWT_ALGORITHM=${algorithmText}: supported values are ${JWT_ALGORITHMS.join(", ")}`);
  }
  const secret = raw("JWT_SECRET");
  if (algorithm === "HS256") {
    if (secret === undefined) problems.push("JWT_SECRET: required when JWT_ALGORITHM=HS256");
    else if (Buffer.byteLength(secret, "utf8") < 32) problems.push("JWT_SECRET: must be at least 32 bytes");
  } else if (secret !== undefined) {
    problems.push("JWT_SECRET: set, but JWT_ALGORITHM is not HS256; remove it or set JWT_ALGORITHM=HS256");
  }
  let privateKey = raw("JWT_PRIVATE_KEY");
  const privateKeyFile = raw("JWT_PRIVATE_KEY_FILE");
  if (privateKey !== undefined && privateKeyFile !== undefined) {
    problems.push("JWT_PRIVATE_KEY and JWT_PRIVATE_KEY_FILE: set only one of them");
  } else if (privateKeyFile !== undefined) {
    try {
      privateKey = readFile(privateKeyFile);
    } catch (error) {
      problems.push(`JWT_PRIVATE_KEY_FILE=${privateKeyFile}: cannot be read (${(error as Error).message})`);
    }
  }
  if (algorithm === "HS256" && privateKey !== undefined) {
    problems.push("JWT_PRIVATE_KEY: set, but JWT_ALGORITHM=HS256 signs with JWT_SECRET; remove one");
  }
  const keyEncryptionKey = raw("KEY_ENCRYPTION_KEY");
  if (
    keyEncryptionKey !== undefined &&
    (!/^[A-Za-z0-9+/_-]{43}=?$/.test(keyEncryptionKey) || Buffer.from(keyEncryptionKey, "base64").length !== 32)
  ) {
    problems.push("KEY_ENCRYPTION_KEY: expected 32 bytes in base64 (create one with `openssl rand -base64 32`)");
  }
  const keySource = algorithm === "HS256" || privateKey !== undefined ? "configured" : "ring";
  if (keySource === "configured" && keyEncryptionKey !== undefined) {
    problems.push("KEY_ENCRYPTION_KEY: set, but a key is configured (JWT_PRIVATE_KEY or JWT_SECRET); choose one key source");
  }
  if (keySource === "ring" && databaseUrl !== undefined && keyEncryptionKey === undefined && options.signingKeyRequired !== false) {
    // Every instance on a shared database must sign with keys every other one knows: either the
    // shared ring (its private keys need the key-encryption key) or one configured key.
    problems.push(
      "KEY_ENCRYPTION_KEY or JWT_PRIVATE_KEY(_FILE): one is required when DATABASE_URL is set; KEY_ENCRYPTION_KEY " +
        "keeps a rotatable key ring in PostgreSQL (create one with `openssl rand -base64 32`)",
    );
  }

  const accessTokenTtlMs = duration("ACCESS_TOKEN_TTL", "15m", 1000);
  const refreshTokenTtlMs = duration("REFRESH_TOKEN_TTL", "7d", 1000);
  const sessionMaxLifetimeMs = duration("SESSION_MAX_LIFETIME", "30d", 1000);
  const refreshReuseGraceMs = duration("REFRESH_REUSE_GRACE", "10s", 0);
  if (refreshTokenTtlMs > sessionMaxLifetimeMs) {
    problems.push("REFRESH_TOKEN_TTL: must not exceed SESSION_MAX_LIFETIME");
  }
  if (refreshReuseGraceMs >= refreshTokenTtlMs) {
    problems.push("REFRESH_REUSE_GRACE: must be shorter than REFRESH_TOKEN_TTL");
  }

  const embedded = databaseUrl === undefined || redisUrl === undefined;
  // The embedded stores live inside one process: several workers would each have their own.
  const workers = int("WORKERS", embedded ? 1 : availableParallelism(), 1, 256);
  if (embedded && workers > 1) problems.push(`WORKERS=${workers}: embedded mode (no DATABASE_URL or REDIS_URL) runs in one process`);

  const compatText = str("COMPAT_ROUTES", "all").toLowerCase();
  let compatRoutes: Seed[] = [];
  if (compatText === "all") compatRoutes = [...SEEDS];
  else if (compatText !== "none") {
    for (const name of compatText.split(",").map((n) => n.trim())) {
      if ((SEEDS as readonly string[]).includes(name)) compatRoutes.push(name as Seed);
      else problems.push(`COMPAT_ROUTES=${compatText}: expected all, none, or a list of ${SEEDS.join(", ")}`);
    }
  }

  const logLevel = str("LOG_LEVEL", "info").toLowerCase() as LogLevel;
  if (!logLevels.includes(logLevel)) {
    problems.push(`LOG_LEVEL=${logLevel}: expected one of ${logLevels.join(", ")}`);
  }
  const defaultTenant = str("DEFAULT_TENANT", "default");
  if (!tenantSlug.test(defaultTenant)) {
    problems.push(`DEFAULT_TENANT=${defaultTenant}: expected a slug of lowercase letters, digits and dashes`);
  }

  const config: Config = {
    host,
    grpcPort,
    httpPort,
    databaseUrl,
    databasePoolMax,
    redisUrl,
    redisKeyPrefix,
    dataDir,
    jwt: {
      issuer: str("JWT_ISSUER", publicUrl),
      audience: str("JWT_AUDIENCE", "api"),
      algorithm,
      keySource,
      secret,
      privateKey,
      keyEncryptionKey,
      keyReloadIntervalMs: duration("KEY_RELOAD_INTERVAL", "60s", 1000),
      clockSkewMs: duration("CLOCK_SKEW", "30s", 0),
      maxTokenBytes: int("MAX_TOKEN_BYTES", 8192, 512, 1_048_576),
      verifiedCacheSize: int("TOKEN_CACHE_SIZE", 10_000, 0, 1_000_000),
    },
    accessTokenTtlMs,
    refreshTokenTtlMs,
    sessionMaxLifetimeMs,
    refreshReuseGraceMs,
    emailTokenTtlMs: duration("EMAIL_TOKEN_TTL", "24h", 1000),
    resetTokenTtlMs: duration("RESET_TOKEN_TTL", "15m", 1000),
    bcryptCost: int("BCRYPT_COST", 12, 4, 31),
    // Together, the workers' bcrypt threads use every core and no more.
    bcryptThreads: int("BCRYPT_THREADS", Math.max(1, Math.floor(availableParallelism() / workers)), 1, 256),
    passwordMinLength: int("PASSWORD_MIN_LENGTH", 8, 6, 64),
    requireVerifiedEmail: bool("REQUIRE_VERIFIED_EMAIL", false),
    defaultTenant,
    smtpUrl: url("SMTP_URL", ["smtp:", "smtps:"]),
    mailFrom: str("MAIL_FROM", "Auth Service <no-reply@localhost>"),
    publicUrl,
    verifyEmailUrl: url("EMAIL_VERIFY_URL", ["http:", "https:"]) ?? `${publicUrl}/v1/auth/verify-email`,
    resetPasswordUrl: url("PASSWORD_RESET_URL", ["http:", "https:"]) ?? `${publicUrl}/reset-password`,
    mailsPerAddressPerHour: int("MAIL_PER_ADDRESS_PER_HOUR", 5, 1, 1000),
    compatRoutes,
    adminPassword: env.ADMIN_PASSWORD === undefined || env.ADMIN_PASSWORD === "" ? undefined : env.ADMIN_PASSWORD,
    logLevel,
    maxRequestBytes: int("MAX_REQUEST_BYTES", 262_144, 1024, 16_777_216),
    shutdownTimeoutMs: duration("SHUTDOWN_TIMEOUT", "8s", 0),
    healthCheckIntervalMs: duration("HEALTH_CHECK_INTERVAL", "2s", 100),
    workers,
    benchFloor: bool("BENCH_FLOOR", false),
    embedded: { database: databaseUrl === undefined, redis: redisUrl === undefined },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function defaultReadFile(path: string): string {
  return readFileSync(path, "utf8");
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === "object") deepFreeze(child as object);
  }
  return Object.freeze(value);
}
