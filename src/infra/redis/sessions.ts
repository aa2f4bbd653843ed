/**
 * The SessionStore port on Redis.
 *
 * Keys (all under the configured prefix):
 * - `s:{<sid>}`: a hash per session: u user, t tenant, c current secret hash, p previous secret
 *   hash, pu previous-valid-until (ms), o older hashes (comma-separated), ca created, lu last
 *   used, ae absolute expiry (ms), ip, ua. Its TTL is the idle lifetime, capped by `ae`.
 * - `n:{<sid>}`: the sealed successor of the previous secret, living only for the grace window.
 * - `u:{<user id>}`: a set of the user's session ids (may hold ids of expired sessions; each login
 *   checks a random sample of PRUNE_SAMPLE ids and drops the dead ones).
 * The `{…}` hash tags keep a session's two keys in one Redis Cluster slot, so the rotation
 * script may touch both.
 */
import type { Redis } from "ioredis";
import type { SessionInfo } from "../../domain/model.js";
import type { NewSession, RotateOutcome, RotateRequest, SessionOwner, SessionStore } from "../../domain/ports.js";
import { redisCall } from "./client.js";

/**
 * Ids of the user's index checked at each login. Checking them all cost a login one Redis command
 * per session the user still had listed (thousands for the benchmark's user, who logs in all day);
 * a fixed random sample drops dead ids about as fast as logins add ids, at a fixed cost.
 */
const PRUNE_SAMPLE = 16;

/** How many superseded secret hashes a session remembers for reuse detection. */
const HISTORY_MAX = 8;

// Compare, rotate and detect reuse in one atomic step. Digests are compared without an early
// exit; they are SHA-256 of 256-bit secrets, so even a leaky compare would reveal nothing usable.
// Timestamps are passed in as strings and written as they are: Lua number formatting differs
// between Redis (doubles) and ioredis-mock's VM (32-bit integers), so the script never formats one.
const rotateScript = `
local s, n = KEYS[1], KEYS[2]
local presented, nextHash, sealed = ARGV[1], ARGV[2], ARGV[3]
local nowText, graceText, prevUntilText = ARGV[4], ARGV[5], ARGV[8]
local now, grace, idle, historyMax = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local keep = ARGV[9] == 'keep'
-- A missing field is false in Redis's Lua and a foreign object in ioredis-mock's: keep strings only.
local function str(v) if type(v) == 'string' then return v end return nil end
local f = redis.call('HMGET', s, 'c', 'p', 'pu', 'ae', 'o', 'u', 't')
local cur, prev, prevUntil, ae, older, user, tenant = str(f[1]), str(f[2]), str(f[3]), str(f[4]), str(f[5]), str(f[6]), str(f[7])
if not cur then return {'missing'} end
ae = tonumber(ae)
if ae <= now then
  redis.call('DEL', s, n)
  return {'missing'}
end
local function same(a, b)
  if not a or not b or #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do diff = diff + math.abs(string.byte(a, i) - string.byte(b, i)) end
  return diff == 0
end
if same(cur, presented) and keep then
  local ttl = math.min(idle, ae - now)
  redis.call('HSET', s, 'lu', nowText)
  redis.call('PEXPIRE', s, ttl)
  return {'kept', ttl}
end
if same(cur, presented) then
  local history = {}
  if prev and prev ~= '' then history[1] = prev end
  for h in string.gmatch(older or '', '[^,]+') do
    if #history >= historyMax then break end
    history[#history + 1] = h
  end
  local ttl = math.min(idle, ae - now)
  redis.call('HSET', s, 'c', nextHash, 'p', cur, 'pu', prevUntilText, 'o', table.concat(history, ','), 'lu', nowText)
  redis.call('PEXPIRE', s, ttl)
  if grace > 0 then
    redis.call('SET', n, sealed, 'PX', graceText)
  else
    redis.call('DEL', n)
  end
  return {'rotated', ttl}
end
if prev and prev ~= '' and same(prev, presented) then
  if now <= tonumber(prevUntil or '0') then
    local successor = str(redis.call('GET', n))
    if successor then
      redis.call('HSET', s, 'lu', nowText)
      return {'grace', successor, redis.call('PTTL', s)}
    end
  end
  redis.call('DEL', s, n)
  return {'reused', user, tenant}
end
for h in string.gmatch(older or '', '[^,]+') do
  if same(h, presented) then
    redis.call('DEL', s, n)
    return {'reused', user, tenant}
  end
end
return {'mismatch'}
`;

// Marks a session used and restarts its idle lifetime (never past its absolute cap); -1 when gone.
const touchScript = `
local ae = redis.call('HGET', KEYS[1], 'ae')
if type(ae) ~= 'string' then return -1 end
local now, idle = tonumber(ARGV[1]), tonumber(ARGV[2])
local ttl = math.min(idle, tonumber(ae) - now)
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return -1
end
redis.call('HSET', KEYS[1], 'lu', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return ttl
`;

type RotateReply = [string, ...string[]];

interface RedisWithScripts extends Redis {
  authRotate(sessionKey: string, successorKey: string, ...args: string[]): Promise<RotateReply>;
  authTouch(sessionKey: string, now: string, idleTtlMs: string): Promise<number | null>;
}

export function createSessionStore(redis: Redis, prefix: string, sessionMaxLifetimeMs: number): SessionStore {
  redis.defineCommand("authRotate", { numberOfKeys: 2, lua: rotateScript });
  redis.defineCommand("authTouch", { numberOfKeys: 1, lua: touchScript });
  const scripted = redis as RedisWithScripts;
  const sessionKey = (sid: string) => `${prefix}s:{${sid}}`;
  const successorKey = (sid: string) => `${prefix}n:{${sid}}`;
  const userKey = (uid: string) => `${prefix}u:{${uid}}`;

  async function pruneUserIndex(userId: string): Promise<void> {
    // The stand-in answers null for a missing set where Redis answers [].
    const ids = ((await redis.srandmember(userKey(userId), PRUNE_SAMPLE)) as string[] | null) ?? [];
    if (ids.length === 0) return;
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.exists(sessionKey(id));
    const results = (await pipeline.exec()) ?? [];
    const dead = ids.filter((_, i) => {
      const [error, exists] = results[i] ?? [];
      if (error) throw error;
      return exists === 0;
    });
    if (dead.length > 0) await redis.srem(userKey(userId), ...dead);
  }

  async function endSessions(userId: string, ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.del(sessionKey(id), successorKey(id));
    pipeline.srem(userKey(userId), ...ids);
    const results = (await pipeline.exec()) ?? [];
    let ended = 0;
    for (const [error, value] of results.slice(0, ids.length)) {
      if (error) throw error;
      // DEL counts both keys; a session existed when its hash was among them.
      if (typeof value === "number" && value > 0) ended += 1;
    }
    return ended;
  }

  return {
    create: (session: NewSession) =>
      redisCall(redis, async () => {
        const key = sessionKey(session.id);
        const fields: Record<string, string> = {
          u: session.userId,
          t: session.tenant,
          c: session.secretHash,
          ca: String(session.createdAt),
          lu: String(session.createdAt),
          ae: String(session.absoluteExpiresAt),
        };
        if (session.ip !== undefined) fields.ip = session.ip;
        if (session.userAgent !== undefined) fields.ua = session.userAgent.slice(0, 512);
        await pruneUserIndex(session.userId);
        const results = await redis
          .multi()
          .hset(key, fields)
          .pexpire(key, session.idleTtlMs)
          .sadd(userKey(session.userId), session.id)
          .pexpire(userKey(session.userId), sessionMaxLifetimeMs)
          .exec();
        for (const [error] of results ?? []) if (error) throw error;
      }),

    owner: (sessionId) =>
      redisCall(redis, async (): Promise<SessionOwner | null> => {
        const [userId, tenant] = await redis.hmget(sessionKey(sessionId), "u", "t");
        return userId && tenant ? { userId, tenant } : null;
      }),

    rotate: (request: RotateRequest) =>
      redisCall(redis, async (): Promise<RotateOutcome> => {
        const reply = await scripted.authRotate(
          sessionKey(request.sessionId),
          successorKey(request.sessionId),
          request.presentedHash,
          request.nextHash,
          request.sealedNext,
          String(request.now),
          String(request.graceMs),
          String(request.idleTtlMs),
          String(HISTORY_MAX),
          String(request.now + request.graceMs),
          request.mode,
        );
        const [kind, a, b] = reply.map(String);
        switch (kind) {
          case "rotated":
          case "kept":
            return { kind, ttlMs: Number(a) };
          case "grace":
            return { kind, sealedNext: a ?? "", ttlMs: Number(b) };
          case "reused": {
            await redis.srem(userKey(a ?? ""), request.sessionId);
            return { kind, userId: a ?? "", tenant: b ?? "" };
          }
          case "mismatch":
          case "missing":
            return { kind };
          default:
            throw new Error(`unexpected reply from the rotation script: ${kind}`);
        }
      }),

    list: (userId, now) =>
      redisCall(redis, async (): Promise<SessionInfo[]> => {
        const ids = await redis.smembers(userKey(userId));
        if (ids.length === 0) return [];
        const pipeline = redis.pipeline();
        for (const id of ids) pipeline.hgetall(sessionKey(id)).pttl(sessionKey(id));
        const results = (await pipeline.exec()) ?? [];
        const sessions: SessionInfo[] = [];
        ids.forEach((id, i) => {
          const [hashError, fields] = results[2 * i] ?? [];
          const [ttlError, ttl] = results[2 * i + 1] ?? [];
          if (hashError || ttlError) throw hashError ?? ttlError;
          const hash = fields as Record<string, string> | null;
          // An id whose key expired since the index was written: not a session any more.
          if (hash?.u !== userId || typeof ttl !== "number" || ttl < 0) return;
          sessions.push({
            id,
            createdAt: Number(hash.ca),
            lastUsedAt: Number(hash.lu ?? hash.ca),
            expiresAt: now + ttl,
            ip: hash.ip,
            userAgent: hash.ua,
          });
        });
        return sessions;
      }),

    touch: (sessionId, now, idleTtlMs) =>
      redisCall(redis, async () => {
        const reply = await scripted.authTouch(sessionKey(sessionId), String(now), String(idleTtlMs));
        return reply === null || reply === undefined || Number(reply) < 0 ? null : Number(reply);
      }),

    isActive: (sessionId) => redisCall(redis, async () => (await redis.exists(sessionKey(sessionId))) === 1),

    revoke: (sessionId, userId) => redisCall(redis, async () => (await endSessions(userId, [sessionId])) === 1),

    revokeAllForUser: (userId, keepSessionId) =>
      redisCall(redis, async () => {
        const ids = await redis.smembers(userKey(userId));
        return endSessions(
          userId,
          ids.filter((id) => id !== keepSessionId),
        );
      }),
  };
}
