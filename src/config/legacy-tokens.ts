/**
 * The legacy token profiles section: LEGACY_TOKEN_<API>_SECRET and LEGACY_TOKEN_<API>_TTL for the
 * old APIs whose backends verify tokens themselves (VidaPlus and Vigia; see
 * src/infra/crypto/legacy-tokens.ts). A profile is off unless its secret is set.
 */
import type { ConfigReader } from "./reader.js";

/** The old APIs that have a legacy token profile. */
export const LEGACY_TOKEN_PROFILES = ["vidaplus", "vigia"] as const;
export type LegacyTokenProfile = (typeof LEGACY_TOKEN_PROFILES)[number];

/** One profile: the API's own HMAC secret, and the lifetime of its tokens. */
export interface LegacyTokenProfileConfig {
  /** The HMAC key: the API's own secret (UTF-8), at least 32 bytes. */
  readonly secret: string;
  /** Lifetime of a token of this profile. */
  readonly ttlMs: number;
}

export type LegacyTokensConfig = Readonly<Partial<Record<LegacyTokenProfile, LegacyTokenProfileConfig>>>;

/** The longest lifetime a profile may choose: a backend that verifies locally sees a revocation only at expiry. */
const MAX_TTL_MS = 24 * 3_600_000;

export interface LegacyTokensContext {
  /** The seed APIs whose routes are served: a profile is issued only on its API's routes. */
  readonly compatRoutes: readonly string[];
  /** The service's own HS256 secret, if it signs with one. */
  readonly jwtSecret: string | undefined;
}

export function readLegacyTokens(r: ConfigReader, context: LegacyTokensContext): LegacyTokensConfig {
  // As given, not trimmed: the API's backends verify with these exact bytes.
  const given: Record<LegacyTokenProfile, { secret: string | undefined; ttlMs: number }> = {
    vidaplus: { secret: r.verbatim("LEGACY_TOKEN_VIDAPLUS_SECRET"), ttlMs: r.duration("LEGACY_TOKEN_VIDAPLUS_TTL", "15m", 1000) },
    vigia: { secret: r.verbatim("LEGACY_TOKEN_VIGIA_SECRET"), ttlMs: r.duration("LEGACY_TOKEN_VIGIA_TTL", "15m", 1000) },
  };
  const profiles: Partial<Record<LegacyTokenProfile, LegacyTokenProfileConfig>> = {};
  const seen = new Map<string, string>();
  if (context.jwtSecret !== undefined) seen.set(context.jwtSecret, "JWT_SECRET");
  for (const api of LEGACY_TOKEN_PROFILES) {
    const name = `LEGACY_TOKEN_${api.toUpperCase()}`;
    const { secret, ttlMs } = given[api];
    if (ttlMs > MAX_TTL_MS) r.problem(`${name}_TTL: at most 24h (a backend that verifies locally sees a revocation only at expiry)`);
    if (secret === undefined) continue;
    if (Buffer.byteLength(secret, "utf8") < 32) r.problem(`${name}_SECRET: must be at least 32 bytes`);
    if (!context.compatRoutes.includes(api)) {
      r.problem(`${name}_SECRET: set, but COMPAT_ROUTES does not serve ${api}'s routes, where its tokens are issued`);
    }
    // One secret per profile: a token of one must never verify as another's (nor as ours).
    const other = seen.get(secret);
    if (other !== undefined) r.problem(`${name}_SECRET: the same as ${other}; each needs its own secret`);
    seen.set(secret, `${name}_SECRET`);
    profiles[api] = { secret, ttlMs };
  }
  return profiles;
}
