/**
 * Moves sessions of the layout before 2026-11-25 into the current one (keys.ts), so that an
 * upgrade signs nobody out.
 *
 * The old layout: `<prefix>s:{<session>}` (the session hash, with the same fields), `n:{<session>}`
 * (its sealed successor) and `u:{<user>}` (the user's index). At start-up `upgradeSessionLayout`
 * SCANs for old session keys and moves each, with its remaining TTL, under its user's hash tag;
 * for each it leaves a pointer `<prefix>legacy:{<session>}` to the user, living until the
 * session's absolute cap, so that a refresh token of the old shape (`<session>.<secret>`, no user)
 * still finds its session; that refresh answers with a token of the new shape. Every step is
 * idempotent: a move never overwrites a session already in the new layout, and a crash halfway is
 * finished by the next start.
 *
 * An instance of the previous version still running during a rolling upgrade keeps writing the
 * old layout; while sessions may remain there (until a session's longest lifetime after the last
 * start-up that found some), the store also moves one whenever the new layout lacks it: on the
 * inactive path of a session check, for a refresh token of the old shape, and before listing or
 * ending a user's sessions. A deployment that never had old sessions pays nothing. A session being
 * refreshed by an old instance at the very moment it is moved may lose that refresh (its holder
 * signs in again); stop the old instances first to avoid even that.
 *
 * The old layout never ran on Sentinel or Cluster, which the service did not support then (and on a
 * Cluster its logins failed: a session and its user's index were written in one MULTI across two
 * slots). Old sessions copied to a Cluster by hand (each of their operations touches one slot)
 * are still moved: the sweep SCANs every master, since a SCAN sees one node's keys only.
 */
import { masterConnections, type RedisClient } from "./client.js";
import { sessionKeys } from "./keys.js";

export interface LegacySessions {
  /** Whether sessions of the old layout may still exist; the fallbacks below run only then. */
  readonly active: boolean;
  /** The user of a session named by an old-shape refresh token; null when unknown. */
  ownerOf(sessionId: string): Promise<string | null>;
  /** Moves one old session (only if it belongs to `expectedUserId`, when given); its user, or null. */
  adopt(sessionId: string, expectedUserId?: string): Promise<string | null>;
  /** Moves every old session listed in the user's old index. */
  adoptUser(userId: string): Promise<void>;
}

export const noLegacySessions: LegacySessions = {
  active: false,
  ownerOf: async () => null,
  adopt: async () => null,
  adoptUser: async () => {},
};

export interface LayoutUpgrade {
  readonly legacy: LegacySessions;
  /** Sessions this start-up moved. */
  readonly moved: number;
  /** Whether this start-up looked for old sessions (false once none can remain). */
  readonly swept: boolean;
}

// Copies an old session into the new layout unless it is there already (then 0).
// KEYS: session, successor, index. ARGV: session id, session TTL, sealed successor or '', its TTL,
// index TTL, then field/value pairs.
const adoptScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
redis.call('SADD', KEYS[3], ARGV[1])
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[5]) then redis.call('PEXPIRE', KEYS[3], ARGV[5]) end
return 1
`;

interface WithAdopt {
  authAdoptLegacy(session: string, successor: string, index: string, ...args: string[]): Promise<number>;
}

/** A glob pattern that matches `text` literally (for SCAN MATCH). */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** The id between the braces of an old key `<prefix><kind>:{<id>}`. */
function idOf(key: string, start: string): string | undefined {
  return key.startsWith(start) && key.endsWith("}") ? key.slice(start.length, -1) : undefined;
}

export function createLegacySessions(
  redis: RedisClient,
  prefix: string,
  sessionMaxLifetimeMs: number,
  activeUntil: () => number,
  now: () => number = Date.now,
): LegacySessions {
  redis.defineCommand("authAdoptLegacy", { numberOfKeys: 3, lua: adoptScript });
  const scripted = redis as RedisClient & WithAdopt;
  const keys = sessionKeys(prefix);
  const old = {
    session: (sessionId: string) => `${prefix}s:{${sessionId}}`,
    successor: (sessionId: string) => `${prefix}n:{${sessionId}}`,
    index: (userId: string) => `${prefix}u:{${userId}}`,
  };
  const pointer = (sessionId: string) => `${prefix}legacy:{${sessionId}}`;

  async function adopt(sessionId: string, expectedUserId?: string): Promise<string | null> {
    // The old session's keys share its id's slot: one transaction reads a consistent copy.
    const results =
      (await redis
        .multi()
        .hgetall(old.session(sessionId))
        .pttl(old.session(sessionId))
        .get(old.successor(sessionId))
        .pttl(old.successor(sessionId))
        .exec()) ?? [];
    for (const [error] of results) if (error) throw error;
    const fields = (results[0]?.[1] ?? {}) as Record<string, string>;
    const ttl = Number(results[1]?.[1]);
    const successor = results[2]?.[1];
    const successorTtl = Number(results[3]?.[1]);
    const userId = fields.u;
    if (userId === undefined || userId === "" || !(ttl > 0)) return null;
    if (expectedUserId !== undefined && userId !== expectedUserId) return null;
    if (userId.includes("{") || userId.includes("}")) return null;
    const pairs = Object.entries(fields).flat();
    await scripted.authAdoptLegacy(
      keys.session(userId, sessionId),
      keys.successor(userId, sessionId),
      keys.index(userId),
      sessionId,
      String(ttl),
      typeof successor === "string" && successorTtl > 0 ? successor : "",
      String(Math.max(successorTtl, 1)),
      String(sessionMaxLifetimeMs),
      ...pairs,
    );
    // The pointer lives until the session's absolute cap: an old-shape refresh token presented
    // again after its rotation must still find the session, to be recognised as reuse.
    const absoluteExpiry = Number(fields.ae);
    const pointerTtl = Math.max(ttl, Number.isFinite(absoluteExpiry) ? absoluteExpiry - now() : 0);
    await redis.set(pointer(sessionId), userId, "PX", Math.ceil(pointerTtl));
    await redis.del(old.session(sessionId), old.successor(sessionId));
    await redis.srem(old.index(userId), sessionId);
    return userId;
  }

  return {
    get active() {
      return activeUntil() > now();
    },
    async ownerOf(sessionId) {
      if (activeUntil() <= now()) return null;
      return (await redis.get(pointer(sessionId))) ?? (await adopt(sessionId));
    },
    adopt,
    async adoptUser(userId) {
      const ids = await redis.smembers(old.index(userId));
      for (const id of ids) await adopt(id, userId);
      if (ids.length > 0) await redis.del(old.index(userId));
    },
  };
}

/**
 * The fallbacks for a process that does not sweep (the CLI): active while the last sweep said old
 * sessions may remain, or when no sweep has run yet.
 */
export async function openLegacySessions(
  redis: RedisClient,
  prefix: string,
  sessionMaxLifetimeMs: number,
  now: () => number = Date.now,
): Promise<LegacySessions> {
  const [version, until] = await redis.hmget(`${prefix}layout`, "v", "legacy_until");
  const activeUntil = version === "2" ? Number(until ?? 0) || 0 : now() + sessionMaxLifetimeMs;
  return createLegacySessions(redis, prefix, sessionMaxLifetimeMs, () => activeUntil, now);
}

/**
 * Moves every session of the old layout at start-up (see the file's comment). Idempotent, and
 * safe to run from several processes at once. Returns the fallbacks the store keeps running
 * while old sessions may remain.
 */
/** Every key matching `pattern` on every master (SCAN sees one node's keys). */
async function* scanEveryMaster(redis: RedisClient, pattern: string): AsyncGenerator<string> {
  const masters = masterConnections(redis);
  if (masters.length === 0) throw new Error("Cluster isn't ready: no master known to SCAN");
  for (const node of masters) {
    let cursor = "0";
    do {
      const [next, found] = await node.scan(cursor, "MATCH", pattern, "COUNT", 500);
      cursor = next;
      yield* found;
    } while (cursor !== "0");
  }
}

export async function upgradeSessionLayout(
  redis: RedisClient,
  prefix: string,
  sessionMaxLifetimeMs: number,
  now: () => number = Date.now,
): Promise<LayoutUpgrade> {
  const marker = `${prefix}layout`;
  const [version, until] = await redis.hmget(marker, "v", "legacy_until");
  let activeUntil = Number(until ?? 0) || 0;
  const legacy = createLegacySessions(redis, prefix, sessionMaxLifetimeMs, () => activeUntil, now);
  // Once a sweep found nothing and no moved session can still be alive, there is nothing to do.
  if (version === "2" && activeUntil <= now()) return { legacy, moved: 0, swept: false };

  let moved = 0;
  const sessionPrefix = `${prefix}s:{`;
  for await (const key of scanEveryMaster(redis, `${globLiteral(sessionPrefix)}*`)) {
    const sessionId = idOf(key, sessionPrefix);
    if (sessionId !== undefined && (await legacy.adopt(sessionId)) !== null) moved += 1;
  }
  if (moved > 0) activeUntil = Math.max(activeUntil, now() + sessionMaxLifetimeMs);
  // Old indexes whose sessions are all gone or moved.
  const indexPrefix = `${prefix}u:{`;
  for await (const key of scanEveryMaster(redis, `${globLiteral(indexPrefix)}*`)) {
    const userId = idOf(key, indexPrefix);
    if (userId !== undefined) await legacy.adoptUser(userId);
  }
  await redis.hset(marker, "v", "2", "legacy_until", String(activeUntil));
  return { legacy, moved, swept: true };
}
