/**
 * The Lua scripts of the session store (sessions.ts), each one atomic step in one Redis Cluster
 * slot: each names every key it touches in KEYS. (They carry no `#!lua` shebang, which would make
 * Redis 7 refuse undeclared keys: the embedded stand-in cannot parse one. The contract tests run
 * every script on a real Cluster instead, and check that all of a user's keys land in one slot.) Timestamps, TTLs and epochs arrive as strings and are written as they are: Lua number
 * formatting differs between Redis (doubles) and ioredis-mock's VM (32-bit integers), so the
 * scripts compare numbers but never format one.
 */
import type { RedisClient } from "./client.js";
import { STR } from "./lua.js";
import { rotateScript } from "./rotation-script.js";
import { keepCopyScript, tenantGenerationScript, userChangedScript } from "./user-copies.js";

// Starts a session unless the user is disabled or a change that ended the user's access was
// recorded after the epoch the caller read (see domain/session-epoch.ts); in the same step, drops
// the ids of a sample of the user's index whose sessions are gone, and keeps a copy of the user
// (user-copies.ts) unless the user's mark moved since the caller read it. The sample is drawn by
// the caller (SRANDMEMBER) and its session keys passed in KEYS, so that the script touches only
// keys it is given; KEYS beyond the sample repeat the index and are not read.
// KEYS: session, index, state, copy, then CREATE_SAMPLE_KEYS session keys of the sample.
// ARGV: session id, epoch, idle TTL, index TTL, copy ('' keeps none), mark read, copy TTL, sample
// size n, the n sampled ids, then field/value pairs.
export const createScript = `
${STR}
local n = tonumber(ARGV[8])
for i = 1, n do
  if redis.call('EXISTS', KEYS[4 + i]) == 0 then redis.call('SREM', KEYS[2], ARGV[8 + i]) end
end
local state = redis.call('HMGET', KEYS[3], 'e', 'd', 'uc')
if str(state[2]) then return 'disabled' end
local recorded = str(state[1])
if recorded and tonumber(recorded) > tonumber(ARGV[2]) then return 'stale' end
for i = 9 + n, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if ARGV[5] ~= '' and (str(state[3]) or '') == ARGV[6] then redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[7]) end
return 'created'
`;

/**
 * Ids of the user's index checked at each login (the create script's sample). Checking them all
 * cost a login one Redis command per session the user still had listed (thousands for the
 * benchmark's user, who logs in all day); a fixed random sample drops dead ids about as fast as
 * logins add ids, at a fixed cost.
 */
export const CREATE_SAMPLE_KEYS = 16;

// Marks a session used and restarts its idle lifetime (never past its absolute cap); -1 when
// gone, -2 (and nothing changed) when a change was recorded after the caller's epoch.
// KEYS: session, state. ARGV: now, idle TTL, epoch.
export const touchScript = `
${STR}
local ae = str(redis.call('HGET', KEYS[1], 'ae'))
if not ae then return -1 end
local recorded = str(redis.call('HGET', KEYS[2], 'e'))
if recorded and tonumber(recorded) > tonumber(ARGV[3]) then return -2 end
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

// Ends one session: 1 when it existed. KEYS: session, successor, index. ARGV: session id.
export const revokeScript = `
local existed = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return existed
`;

// Records a change that ended the user's access at ARGV[1] (the epoch PostgreSQL gave it) and
// ends every listed session resting on an older epoch, but the kept one, whose epoch is raised.
// Replies {sessions ended, the ids in the index that were not listed, comma-separated}: sessions
// created between the caller's SMEMBERS and this script, which the caller passes in a second round.
// KEYS: state, index, then the session and successor key of each id in ARGV[5..].
// ARGV: epoch, kept session id or '', '1' to mark the user disabled, state TTL, session ids.
export const endAccessScript = `
${STR}
local state, index = KEYS[1], KEYS[2]
local epochText, keep = ARGV[1], ARGV[2]
local epoch = tonumber(epochText)
local f = redis.call('HMGET', state, 'e', 'd')
local recorded = str(f[1])
if not recorded or tonumber(recorded) < epoch then redis.call('HSET', state, 'e', epochText) end
-- An enable recorded with a later epoch already ran: this older disable must not undo it (nor
-- mark the sessions it ends as ended by a disable).
local disabling = ARGV[3] == '1' and (not recorded or tonumber(recorded) <= epoch)
if disabling then redis.call('HSET', state, 'd', epochText) end
if str(redis.call('HGET', state, 'd')) then
  redis.call('PERSIST', state)
else
  redis.call('PEXPIRE', state, ARGV[4])
end
local ended, listed = 0, {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local s, n = KEYS[2 * (i - 4) + 1], KEYS[2 * (i - 4) + 2]
  listed[id] = true
  local exists = redis.call('EXISTS', s) == 1
  local rests = tonumber(str(redis.call('HGET', s, 'ep')) or '0')
  if id == keep then
    if exists and rests < epoch then redis.call('HSET', s, 'ep', epochText) end
  elseif not exists then
    redis.call('DEL', n)
    redis.call('SREM', index, id)
  elseif rests < epoch then
    redis.call('DEL', s, n)
    redis.call('SREM', index, id)
    ended = ended + 1
    -- Which sessions the disable ended: only their refresh tokens are told ACCOUNT_DISABLED
    -- (rotation-script.ts), so a made-up token naming the user learns nothing.
    if disabling then redis.call('HSET', state, 'x' .. id, '1') end
  end
end
local unlisted = {}
for _, id in ipairs(redis.call('SMEMBERS', index)) do
  if not listed[id] and id ~= keep then unlisted[#unlisted + 1] = id end
end
-- A table literal: ioredis-mock's VM loses tables built by assignment on the way out.
return {ended, table.concat(unlisted, ',')}
`;

// Records an enable at ARGV[1]: clears the disabled mark of any older disable. KEYS: state.
// ARGV: epoch, state TTL.
export const restoreAccessScript = `
${STR}
local f = redis.call('HMGET', KEYS[1], 'e', 'd')
local epoch = tonumber(ARGV[1])
local recorded, disabled = str(f[1]), str(f[2])
if not recorded or tonumber(recorded) < epoch then redis.call('HSET', KEYS[1], 'e', ARGV[1]) end
if disabled and tonumber(disabled) < epoch then
  redis.call('HDEL', KEYS[1], 'd')
  disabled = nil
  -- The marks of the sessions the disable ended (as many as the user had).
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(field, 1, 1) == 'x' then redis.call('HDEL', KEYS[1], field) end
  end
end
if not disabled then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`;

export type { RotateReply } from "./rotation-script.js";

/** The fixed-arity scripts, defined as commands (the end-access script is sent with EVAL). */
const definitions = {
  authCreate: { numberOfKeys: 4 + CREATE_SAMPLE_KEYS, lua: createScript },
  authRotate: { numberOfKeys: 5, lua: rotateScript },
  authKeepCopy: { numberOfKeys: 2, lua: keepCopyScript },
  authUserChanged: { numberOfKeys: 2, lua: userChangedScript },
  authTenantGeneration: { numberOfKeys: 1, lua: tenantGenerationScript },
  authTouch: { numberOfKeys: 2, lua: touchScript },
  authRevoke: { numberOfKeys: 3, lua: revokeScript },
  authRestoreAccess: { numberOfKeys: 1, lua: restoreAccessScript },
} as const;

/** The name of a defined script, as `defineCommand` names it on clients and on their pipelines. */
export type SessionScript = keyof typeof definitions;

/** Defines the scripts as commands of each client (on a Cluster, of every node it reaches). */
export function defineSessionScripts(...clients: RedisClient[]): void {
  for (const client of clients) for (const [name, definition] of Object.entries(definitions)) client.defineCommand(name, definition);
}
