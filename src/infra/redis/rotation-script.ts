/**
 * The rotation script of the session store (sessions.ts) and its reply: compare, rotate and
 * detect reuse in one atomic step in one Redis Cluster slot, on the user read from PostgreSQL or on
 * the copy of the user kept beside the sessions (user-copies.ts). Numbers are compared, never
 * formatted (see session-scripts.ts).
 */
import type { RotateOutcome, RotateRequest } from "../../domain/ports.js";
import type { SessionKeys } from "./keys.js";
import { STR } from "./lua.js";
import { decodeUserCopy, encodeUserCopy } from "./user-copies.js";

// Compare, rotate and detect reuse in one atomic step. Digests are compared without an early
// exit; they are SHA-256 of 256-bit secrets, so even a leaky compare would reveal nothing usable.
// Two ways in: with the epoch the caller read from PostgreSQL (ARGV[10]), which keeps the copy of
// the user it read when the user's mark has not moved (ARGV[13..15]); or without (''), on the copy
// of the user kept beside the sessions (user-copies.ts), returned with the outcome: without a usable
// copy (one beginning with '1'), a presented current secret changes nothing and the caller is told
// to read the user; any other secret gets the answer it gets with a copy (a grace answer then
// describes the user as PostgreSQL has them: refresh.ts).
// Success replies carry how the session began (`amr`, space-separated), which new tokens carry again;
// a grace reply also carries the current digest, which the sealed successor must open to.
// KEYS: session, successor, index, state, copy.
export const rotateScript = `
${STR}
local s, n, index, state, copyKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local presented, nextHash, sealed = ARGV[1], ARGV[2], ARGV[3]
local nowText, graceText, prevUntilText = ARGV[4], ARGV[5], ARGV[8]
local now, grace, idle, historyMax = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local keep = ARGV[9] == 'keep'
local fast, id, tenantHeader = ARGV[10] == '', ARGV[11], ARGV[12]
local f = redis.call('HMGET', s, 'c', 'p', 'pu', 'ae', 'o', 'u', 't', 'am')
local cur, prev, prevUntil, ae, older, user, tenant = str(f[1]), str(f[2]), str(f[3]), str(f[4]), str(f[5]), str(f[6]), str(f[7])
-- Sessions from before second factors were all signed in by password.
local amr = str(f[8]) or 'pwd'
if not cur then return {'missing', redis.call('HEXISTS', state, 'x' .. id)} end
ae = tonumber(ae)
if ae <= now then
  redis.call('DEL', s, n)
  redis.call('SREM', index, id)
  return {'missing', redis.call('HEXISTS', state, 'x' .. id)}
end
if tenantHeader ~= '' and tenant ~= tenantHeader then return {'tenant_mismatch'} end
local function same(a, b)
  if not a or not b or #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do diff = diff + math.abs(string.byte(a, i) - string.byte(b, i)) end
  return diff == 0
end
local copy = ''
if fast then
  copy = str(redis.call('GET', copyKey)) or ''
  -- The user is read only for the current secret: a wrong, old or replayed one is answered below
  -- as it would be with a copy (no PostgreSQL read, and nothing said about the account first).
  if string.sub(copy, 1, 1) ~= '1' and same(cur, presented) then return {'needs_user', tenant or '', str(redis.call('HGET', state, 'uc')) or ''} end
else
  -- The caller read the user before a change that ended their access: it may not extend anything.
  local recorded = str(redis.call('HGET', state, 'e'))
  if recorded and tonumber(recorded) > tonumber(ARGV[10]) then return {'stale'} end
end
local function keepCopy()
  if ARGV[13] ~= '' and (str(redis.call('HGET', state, 'uc')) or '') == ARGV[14] then
    redis.call('SET', copyKey, ARGV[13], 'PX', ARGV[15])
  end
end
if same(cur, presented) and keep then
  local ttl = math.min(idle, ae - now)
  redis.call('HSET', s, 'lu', nowText)
  redis.call('PEXPIRE', s, ttl)
  keepCopy()
  return {'kept', ttl, amr, copy}
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
  keepCopy()
  return {'rotated', ttl, amr, copy}
end
if prev and prev ~= '' and same(prev, presented) then
  if now <= tonumber(prevUntil or '0') then
    local successor = str(redis.call('GET', n))
    if successor then
      redis.call('HSET', s, 'lu', nowText)
      keepCopy()
      return {'grace', successor, redis.call('PTTL', s), amr, copy, cur}
    end
  end
  redis.call('DEL', s, n)
  redis.call('SREM', index, id)
  return {'reused', user, tenant}
end
for h in string.gmatch(older or '', '[^,]+') do
  if same(h, presented) then
    redis.call('DEL', s, n)
    redis.call('SREM', index, id)
    return {'reused', user, tenant}
  end
end
return {'mismatch'}
`;

export type RotateReply = [string, ...(string | number)[]];

/** How many superseded secret hashes a session remembers for reuse detection. */
const HISTORY_MAX = 8;

/** The script's keys and arguments for a request; `copyTtlMs` bounds the life of a copy it keeps. */
export function rotateArguments(keys: SessionKeys, request: RotateRequest, copyTtlMs: number): string[] {
  const { userId, sessionId, keepCopy } = request;
  const copy = keepCopy === undefined ? "" : encodeUserCopy({ user: keepCopy.user, tenantGeneration: keepCopy.marks.tenantGeneration });
  return [
    keys.session(userId, sessionId),
    keys.successor(userId, sessionId),
    keys.index(userId),
    keys.state(userId),
    keys.userCopy(userId),
    request.presentedHash,
    request.nextHash,
    request.sealedNext,
    String(request.now),
    String(request.graceMs),
    String(request.idleTtlMs),
    String(HISTORY_MAX),
    String(request.now + request.graceMs),
    request.mode,
    request.epoch === undefined ? "" : String(request.epoch),
    sessionId,
    request.tenantHeader ?? "",
    copy,
    keepCopy?.marks.userChange ?? "",
    String(copyTtlMs),
  ];
}

const amrOf = (text: unknown) => (typeof text === "string" && text !== "" ? text.split(" ") : ["pwd"]);
/** A copy that does not decode is as good as none. */
const copyOf = (text: unknown) => (typeof text === "string" && text !== "" ? decodeUserCopy(text) : undefined);

/** The script's reply as an outcome. */
export function rotateOutcome(reply: RotateReply): RotateOutcome {
  const [kind, a, b, c, d, e] = reply;
  switch (kind) {
    case "rotated":
    case "kept":
      return { kind, ttlMs: Number(a), amr: amrOf(b), copy: copyOf(c) };
    case "grace":
      return { kind, sealedNext: String(a ?? ""), currentHash: String(e ?? ""), ttlMs: Number(b), amr: amrOf(c), copy: copyOf(d) };
    case "reused":
      return { kind, userId: String(a ?? ""), tenant: String(b ?? "") };
    case "missing":
      return { kind, userDisabled: Number(a) === 1 };
    case "needs_user":
      return { kind: "userNeeded", tenant: String(a ?? ""), userChange: String(b ?? "") };
    case "tenant_mismatch":
      return { kind: "tenantMismatch" };
    case "mismatch":
    case "stale":
      return { kind };
    default:
      throw new Error(`unexpected reply from the rotation script: ${kind}`);
  }
}
