/**
 * The copy of each user kept beside their sessions, so that Refresh reads no PostgreSQL (keys.ts:
 * `{<user>}:u`, the mark `uc` in `{<user>}:st`, the tenant's generation `{t:<tenant>}:g`).
 *
 * Why a copy can be trusted:
 * - Every change to a user replaces the user's mark and deletes the copy in one script
 *   (`userChanged`), before PostgreSQL is written and again once it has committed
 *   (domain/changes.ts; `endAccess` does it after the commit too).
 * - A writer (Login, or a Refresh that read PostgreSQL) reads the mark before it reads the user,
 *   and its copy is kept only if the mark is still the one it read, in one script. So a copy
 *   read before a change's commit is never kept after that change's Redis step, the race of
 *   every cache-aside scheme (read old, change, delete, write old).
 * - What a user's copy cannot see, a change to the tenant (a role's permissions, the policy), moves
 *   the tenant's generation, before and after the write too; a copy read under another
 *   generation is not used (refresh.ts). A missing generation (never written, or lost: a restart
 *   without persistence, an eviction, a FLUSH) matches no copy: the first read that finds it
 *   missing creates it with a new random value, in one script, and a generation is never read as
 *   "" (which copies of earlier versions, kept while it was missing, carry). (A failover that
 *   loses a change's write brings back the value before it: REDIS_WAIT_REPLICAS prevents that.)
 * - If a change's step before the write fails (Redis unreachable), the change answers
 *   UNAVAILABLE with nothing written. If its step after the commit fails, it answers UNAVAILABLE
 *   too, and repeating it finishes it; meanwhile only a copy kept while the write ran can be
 *   stale, and it lives SESSION_USER_TTL at most.
 *
 * The copy is JSON after one character, `1`: the rotation script uses a copy only then. A copy is
 * only ever kept of a user their tenant's policy admitted, as read after the marks it is kept under
 * (Login's admission; Refresh's read of a user without roles reads the tenant's policy), so a
 * user without roles in a tenant that requires none refreshes on it too; a tenant that comes to
 * require roles moves its generation, and the copy is not used. Copies of users without roles kept
 * by earlier versions begin with `0`: not used, replaced at the next refresh.
 */
import { randomBytes } from "node:crypto";
import type { User } from "../../domain/model.js";
import type { CopyMarks, SessionStore, UserCopy } from "../../domain/ports.js";
import { type RedisClient, redisCall } from "./client.js";
import type { Write } from "./durable-writes.js";
import { sessionKeys } from "./keys.js";
import { STR } from "./lua.js";

// Keeps a copy unless the user's mark moved. KEYS: state, copy. ARGV: mark read, copy, TTL (ms).
export const keepCopyScript = `
${STR}
if (str(redis.call('HGET', KEYS[1], 'uc')) or '') ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`;

// A change to the user: a new mark, no copy. KEYS: state, copy. ARGV: new mark, state TTL (ms).
export const userChangedScript = `
${STR}
redis.call('HSET', KEYS[1], 'uc', ARGV[1])
if not str(redis.call('HGET', KEYS[1], 'd')) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
redis.call('DEL', KEYS[2])
return 1
`;

// The tenant's generation, created with ARGV[1] when missing (or empty): a missing generation must
// match no copy, so it is never read as one. KEYS: generation. ARGV: a new random generation.
export const tenantGenerationScript = `
${STR}
local current = str(redis.call('GET', KEYS[1]))
if current and current ~= '' then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`;

type CopyOperations = Pick<SessionStore, "copyMarks" | "keepCopy" | "userChanged" | "tenantChanged" | "tenantGeneration">;

/** The stored text of a copy (see the file's comment). */
export function encodeUserCopy({ user, tenantGeneration }: UserCopy): string {
  const json = JSON.stringify({
    ...user,
    createdAt: user.createdAt.getTime(),
    emailVerifiedAt: user.emailVerifiedAt === null ? null : user.emailVerifiedAt.getTime(),
    tg: tenantGeneration,
  });
  return `1${json}`;
}

/** A copy from its stored text; undefined when it is not one (a copy is only ever a shortcut). */
export function decodeUserCopy(text: string): UserCopy | undefined {
  try {
    const { tg, createdAt, emailVerifiedAt, ...rest } = JSON.parse(text.slice(1)) as Record<string, unknown>;
    if (typeof tg !== "string" || typeof createdAt !== "number" || typeof rest.id !== "string" || !Array.isArray(rest.roles))
      return undefined;
    const user = {
      ...rest,
      createdAt: new Date(createdAt),
      emailVerifiedAt: typeof emailVerifiedAt === "number" ? new Date(emailVerifiedAt) : null,
    } as unknown as User;
    return { user, tenantGeneration: tg };
  } catch {
    return undefined;
  }
}

const newMark = () => randomBytes(12).toString("base64url");

/**
 * The copy's operations on `redis`; `write` runs the writes (with REDIS_WAIT_REPLICAS, each waits
 * for the replicas, as session writes do). The scripts are defined by session-scripts.ts.
 */
export function createUserCopies(
  redis: RedisClient,
  write: Write,
  prefix: string,
  { copyTtlMs, stateTtlMs }: { readonly copyTtlMs: number; readonly stateTtlMs: number },
): CopyOperations {
  const keys = sessionKeys(prefix);
  // A plain read first: the key is missing only at a tenant's first read, or the first after it was lost.
  const tenantGeneration = async (tenant: string): Promise<string> => {
    const key = keys.tenantGeneration(tenant);
    const current = await redis.get(key);
    if (current !== null && current !== "") return current;
    return String(await write("authTenantGeneration", key, newMark()));
  };
  return {
    copyMarks: (userId, tenant) =>
      redisCall(redis, async (): Promise<CopyMarks> => {
        const [userChange, generation] = await Promise.all([redis.hget(keys.state(userId), "uc"), tenantGeneration(tenant)]);
        return { userChange: userChange ?? "", tenantGeneration: generation };
      }),
    keepCopy: (user, marks) =>
      redisCall(redis, async () => {
        const value = encodeUserCopy({ user, tenantGeneration: marks.tenantGeneration });
        await write("authKeepCopy", keys.state(user.id), keys.userCopy(user.id), marks.userChange, value, String(copyTtlMs));
      }),
    userChanged: (userId) =>
      redisCall(redis, async () => {
        await write("authUserChanged", keys.state(userId), keys.userCopy(userId), newMark(), String(stateTtlMs));
      }),
    tenantChanged: (tenant) =>
      redisCall(redis, async () => {
        await write("set", keys.tenantGeneration(tenant), newMark());
      }),
    tenantGeneration: (tenant) => redisCall(redis, () => tenantGeneration(tenant)),
  };
}
