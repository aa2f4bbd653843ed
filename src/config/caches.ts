/**
 * The caches section of the configuration: what each process keeps beside the stores, and how
 * long. GRANTS_CACHE_TTL and GRANTS_CACHE_SIZE (ValidateToken's `required_*`), SESSION_CACHE_SIZE
 * (session liveness, invalidated by Redis: infra/redis/session-liveness.ts) and SESSION_USER_TTL
 * (the copy of a user Refresh reads beside their sessions: infra/redis/user-copies.ts).
 */
import type { ConfigReader } from "./reader.js";

/** The per-process cache of users' roles and permissions behind ValidateToken's `required_*`. */
export interface GrantsCacheConfig {
  /** How long an entry is trusted without a change notice (GRANTS_CACHE_TTL); 0: no cache. */
  readonly ttlMs: number;
  /** Users remembered per process (GRANTS_CACHE_SIZE). */
  readonly maxUsers: number;
}

/** What the service keeps of sessions and users beside Redis. */
export interface SessionCacheConfig {
  /** Sessions whose liveness each process remembers, invalidated by Redis (SESSION_CACHE_SIZE); 0: none. */
  readonly size: number;
  /** How long the copy of a user kept beside their sessions lives at most (SESSION_USER_TTL). */
  readonly userTtlMs: number;
}

export function readCaches(r: ConfigReader): { grantsCache: GrantsCacheConfig; sessionCache: SessionCacheConfig } {
  return {
    grantsCache: { ttlMs: r.duration("GRANTS_CACHE_TTL", "30s", 0), maxUsers: r.int("GRANTS_CACHE_SIZE", 10_000, 1, 10_000_000) },
    sessionCache: { size: r.int("SESSION_CACHE_SIZE", 100_000, 0, 10_000_000), userTtlMs: r.duration("SESSION_USER_TTL", "12h", 60_000) },
  };
}
