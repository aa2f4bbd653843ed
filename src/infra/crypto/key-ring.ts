/**
 * The key ring: the key that signs new access tokens, and every key that may still verify one.
 *
 * - Static: one configured key (JWT_PRIVATE_KEY, JWT_PRIVATE_KEY_FILE or JWT_SECRET); rotating
 *   means redeploying.
 * - Database: keys in PostgreSQL, private parts encrypted under KEY_ENCRYPTION_KEY, rotated by
 *   `cli keys rotate`. A retired key keeps verifying for ACCESS_TOKEN_TTL + CLOCK_SKEW, until every
 *   token it signed has expired, then leaves the ring and the JWKS. Instances reload when told
 *   (Redis pub/sub), every KEY_RELOAD_INTERVAL, and when a token names a kid they do not know
 *   (at most once per MIN_RELOAD_GAP_MS).
 */
import type { JWK } from "jose";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { Clock } from "../../domain/ports.js";
import type { Database } from "../postgres/schema.js";
import { loadKeys, type StoredKey } from "../postgres/signing-keys.js";
import type { SigningKey } from "./keys.js";

export interface KeyRing {
  /** The key new tokens are signed with. */
  signer(): SigningKey;
  /** The key with this kid if it may verify at `now`; an unknown kid may trigger one reload. */
  find(kid: string, now: number): SigningKey | undefined | Promise<SigningKey | undefined>;
  /** The public JWKs of every key that may verify at `now` (never an HS256 secret). */
  publicJwks(now: number): JWK[];
  /** Algorithms of the keys in the ring: the verification allow-list. */
  algorithms(): readonly string[];
  reload(): Promise<void>;
  close(): void;
}

export function createStaticKeyRing(key: SigningKey): KeyRing {
  const algorithms = [key.algorithm];
  return {
    signer: () => key,
    find: (kid) => (kid === key.kid ? key : undefined),
    publicJwks: () => (key.publicJwk === undefined ? [] : [key.publicJwk]),
    algorithms: () => algorithms,
    reload: async () => {},
    close: () => {},
  };
}

/** The least time between two reloads caused by unknown kids, unless told otherwise. */
const MIN_RELOAD_GAP_MS = 5000;

export interface DatabaseKeyRingOptions {
  readonly db: Kysely<Database>;
  readonly kek: Buffer;
  /** How long a retired key keeps verifying: the access-token lifetime plus the clock skew. */
  readonly verifyForMs: number;
  readonly reloadIntervalMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Least time between two reloads caused by unknown kids; default 5 s. */
  readonly minReloadGapMs?: number;
}

export async function createDatabaseKeyRing(options: DatabaseKeyRingOptions): Promise<KeyRing> {
  const { db, kek, verifyForMs, clock, logger } = options;
  const minReloadGapMs = options.minReloadGapMs ?? MIN_RELOAD_GAP_MS;
  let keys: StoredKey[] = [];
  let byKid = new Map<string, StoredKey>();
  let algorithms: string[] = [];
  let lastReload = 0;
  let pending: Promise<void> | undefined;

  const usable = (entry: StoredKey, now: number) => entry.retiredAt === null || entry.retiredAt.getTime() + verifyForMs > now;

  async function load(): Promise<void> {
    const loaded = await loadKeys(db, kek, new Date(clock.now()), verifyForMs);
    if (!loaded.some((entry) => entry.retiredAt === null)) throw new Error("the key ring has no active signing key");
    const before = keys.find((entry) => entry.retiredAt === null)?.key.kid;
    keys = loaded;
    byKid = new Map(loaded.map((entry) => [entry.key.kid, entry]));
    algorithms = [...new Set(loaded.map((entry) => entry.key.algorithm))];
    lastReload = Date.now();
    const after = keys.find((entry) => entry.retiredAt === null)?.key.kid;
    if (before !== after) logger.info({ kid: after, verifying: loaded.map((e) => e.key.kid) }, "signing key ring loaded");
  }

  /** One reload at a time; callers arriving meanwhile share it. */
  function reload(): Promise<void> {
    pending ??= load().finally(() => (pending = undefined));
    return pending;
  }

  await load();
  const timer = setInterval(() => {
    reload().catch((error: unknown) => logger.warn({ err: error }, "could not reload the signing key ring"));
  }, options.reloadIntervalMs);
  timer.unref();

  return {
    signer() {
      const active = keys.find((entry) => entry.retiredAt === null);
      if (active === undefined) throw new Error("the key ring has no active signing key");
      return active.key;
    },
    find(kid, now) {
      const entry = byKid.get(kid);
      if (entry !== undefined) return usable(entry, now) ? entry.key : undefined;
      // A kid we do not know may be a rotation we have not heard of yet; look once, not per token.
      if (Date.now() - lastReload < minReloadGapMs) return undefined;
      return reload().then(
        () => {
          const found = byKid.get(kid);
          return found !== undefined && usable(found, now) ? found.key : undefined;
        },
        (error: unknown) => {
          logger.warn({ err: error }, "could not reload the signing key ring");
          return undefined;
        },
      );
    },
    publicJwks: (now) =>
      keys.filter((entry) => usable(entry, now) && entry.key.publicJwk !== undefined).map((entry) => entry.key.publicJwk as JWK),
    algorithms: () => algorithms,
    reload,
    close: () => clearInterval(timer),
  };
}
