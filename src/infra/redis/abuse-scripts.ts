/**
 * The Lua scripts of the abuse limits (infra/redis/abuse-limits.ts), each on one key or on keys
 * sharing the account's hash tag, and a typed handle on them. The (account, address) pair is one
 * hash: a attempts counted in the window (in flight or failed), ws the window's start, l locked
 * until (ms), n locks in the last day, nt the last lock (ms). Times come from the caller (its
 * clock), so that the embedded stand-in runs the same scripts.
 */
import type { RedisClient } from "./client.js";
import { STR } from "./lua.js";

/** How many addresses of an owner are remembered per account at most (the oldest is dropped). */
const OWNER_ADDRESSES_MAX = 32;
/** How long the locks of an (account, address) pair are remembered, for the lock to grow. */
const LOCK_MEMORY_MS = 86_400_000;
/** The wait told to an attempt refused while the pair's other attempts are still being checked. */
const IN_FLIGHT_RETRY_MS = 1000;

/**
 * begin: 0 when the attempt may go ahead (and is counted), 1 when the pair is locked (with the
 * remaining ms), 2 when as many attempts as allowed are counted already, in flight (with the wait).
 * With 0, also when the owner last signed in from the bucket (ms, '' when never): the owner's
 * addresses (KEYS[2], the account's hash tag like the pair's) are read in the same step.
 */
const beginScript = `
${STR}
-- A missing field is nil in Redis and null userdata in the embedded stand-in: both count as 0.
local function num(v) local n = tonumber(v); if n == nil then return 0 end; return n end
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'a', 'ws', 'l', 'n', 'nt')
local locked = num(state[3])
if locked > now then return {1, locked - now} end
local attempts = num(state[1])
local start = num(state[2])
if now - start >= window then attempts = 0; start = now end
if attempts >= max then return {2, math.min(${IN_FLIGHT_RETRY_MS}, start + window - now)} end
redis.call('HSET', KEYS[1], 'a', attempts + 1, 'ws', start)
local keep = start + window
local lastLock = num(state[5])
if num(state[4]) > 0 and lastLock + ${LOCK_MEMORY_MS} > keep then keep = lastLock + ${LOCK_MEMORY_MS} end
redis.call('PEXPIRE', KEYS[1], math.max(1, keep - now))
return {0, attempts + 1, str(redis.call('HGET', KEYS[2], ARGV[4])) or ''}
`;

/**
 * failed: when the pair's counted attempts reached the limit, locks it for base * 2^(locks of the
 * last day), capped, clears the count and remembers the bucket in the account's set; returns
 * {lock ms, locks of the day}, or {0, 0}.
 */
const failedScript = `
-- A missing field is nil in Redis and null userdata in the embedded stand-in: both count as 0.
local function num(v) local n = tonumber(v); if n == nil then return 0 end; return n end
local now = tonumber(ARGV[1])
local max = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'a', 'l', 'n', 'nt')
if num(state[2]) > now then return {0, 0} end
if num(state[1]) < max then return {0, 0} end
local locks = 0
if num(state[4]) + ${LOCK_MEMORY_MS} > now then locks = num(state[3]) end
locks = locks + 1
local ms = math.min(cap, base * (2 ^ (locks - 1)))
redis.call('HSET', KEYS[1], 'a', 0, 'ws', now, 'l', now + ms, 'n', locks, 'nt', now)
redis.call('PEXPIRE', KEYS[1], math.max(ms, ${LOCK_MEMORY_MS}))
redis.call('SADD', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ${LOCK_MEMORY_MS})
return {ms, locks}
`;

/** cancel: gives back an attempt that another limit refused after this pair counted it. */
const cancelScript = `
-- A missing field is nil in Redis and null userdata in the embedded stand-in: both count as 0.
local function num(v) local n = tonumber(v); if n == nil then return 0 end; return n end
local attempts = num(redis.call('HGET', KEYS[1], 'a'))
if attempts > 0 then redis.call('HSET', KEYS[1], 'a', attempts - 1) end
return attempts
`;

/** Gives back one counted point of a rate-limiter-flexible counter, if it still exists (never below 0). */
const giveBackScript = `
local count = tonumber(redis.call('GET', KEYS[1]))
if count ~= nil and count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
`;

/** Remembers a sign-in's address bucket for the owner exemptions; drops the oldest past the cap. */
const rememberScript = `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if redis.call('HLEN', KEYS[1]) > tonumber(ARGV[4]) then
  local all = redis.call('HGETALL', KEYS[1])
  local oldest, oldestAt = nil, nil
  for i = 1, #all, 2 do
    local at = tonumber(all[i + 1])
    if oldestAt == nil or at < oldestAt then oldest = all[i]; oldestAt = at end
  end
  redis.call('HDEL', KEYS[1], oldest)
end
return 1
`;

/** What a script answers: begin's state and value (and with 0, the owner's last sign-in from the bucket, ms, or ''), failed's lock. */
export type BeginState = [state: 0 | 1 | 2, value: number, ownerAt?: string];

/** The scripts, bound to one client. */
export interface LimitScripts {
  /**
   * Counts an attempt of the pair (`key`) unless it is locked or as many are counted as allowed;
   * with it, reads when the owner (`owner`, their addresses) last signed in from `bucket`.
   */
  begin(key: string, owner: string, bucket: string, now: number, windowMs: number, max: number): Promise<BeginState>;
  /** After a failure: locks the pair if its count reached `max`; {lock ms, locks today} or {0, 0}. */
  failed(
    key: string,
    index: string,
    now: number,
    lock: { max: number; baseMs: number; capMs: number },
    bucket: string,
  ): Promise<[number, number]>;
  /** Gives back an attempt another limit refused. */
  cancel(key: string): Promise<number>;
  /** Gives back one point of a rate-limiter-flexible counter, if it still exists. */
  giveBack(key: string): Promise<number>;
  /** Remembers an owner's address bucket (`at`, ms) for `ttlMs`. */
  remember(key: string, bucket: string, at: number, ttlMs: number): Promise<number>;
}

interface Scripted {
  authLimitBegin(key: string, owner: string, now: number, windowMs: number, max: number, bucket: string): Promise<BeginState>;
  authLimitFailed(
    key: string,
    index: string,
    now: number,
    max: number,
    base: number,
    cap: number,
    bucket: string,
  ): Promise<[number, number]>;
  authLimitCancel(key: string): Promise<number>;
  authLimitGiveBack(key: string): Promise<number>;
  authLimitRemember(key: string, bucket: string, at: number, ttlMs: number, max: number): Promise<number>;
}

/** Defines the scripts on `redis` (EVALSHA, loaded on first use on each node). */
export function defineLimitScripts(redis: RedisClient): LimitScripts {
  redis.defineCommand("authLimitBegin", { numberOfKeys: 2, lua: beginScript });
  redis.defineCommand("authLimitFailed", { numberOfKeys: 2, lua: failedScript });
  redis.defineCommand("authLimitCancel", { numberOfKeys: 1, lua: cancelScript });
  redis.defineCommand("authLimitGiveBack", { numberOfKeys: 1, lua: giveBackScript });
  redis.defineCommand("authLimitRemember", { numberOfKeys: 1, lua: rememberScript });
  const scripted = redis as unknown as Scripted;
  return {
    begin: (key, owner, bucket, now, windowMs, max) => scripted.authLimitBegin(key, owner, now, windowMs, max, bucket),
    failed: (key, index, now, lock, bucket) => scripted.authLimitFailed(key, index, now, lock.max, lock.baseMs, lock.capMs, bucket),
    cancel: (key) => scripted.authLimitCancel(key),
    giveBack: (key) => scripted.authLimitGiveBack(key),
    remember: (key, bucket, at, ttlMs) => scripted.authLimitRemember(key, bucket, at, ttlMs, OWNER_ADDRESSES_MAX),
  };
}
