/**
 * The SessionStore port on Redis. The keys are described in keys.ts: all of a user's session keys
 * share the user's hash tag, and every script (session-scripts.ts) receives each key it touches in
 * KEYS, so each operation runs in one Redis Cluster slot: the same code runs on a standalone
 * server, a Sentinel group and a Cluster. With `durability`, every write waits for replicas
 * (durable-writes.ts).
 */
import type { SessionInfo } from "../../domain/model.js";
import type { AccessEnd, CreateOutcome, NewSession, RotateOutcome, RotateRequest, SessionStore } from "../../domain/ports.js";
import { type RedisClient, redisCall } from "./client.js";
import { type SessionDurability, sessionWrites, type Write } from "./durable-writes.js";
import { sessionKeys } from "./keys.js";
import { type LegacySessions, noLegacySessions } from "./legacy-sessions.js";
import { rotateArguments, rotateOutcome } from "./rotation-script.js";
import { CREATE_SAMPLE_KEYS, defineSessionScripts, endAccessScript, type RotateReply } from "./session-scripts.js";
import { createUserCopies, encodeUserCopy } from "./user-copies.js";

export interface SessionStoreOptions {
  /** Sessions of the layout before 2026-11-25 still to be moved (see legacy-sessions.ts). */
  readonly legacy?: LegacySessions | undefined;
  /** Absent: a write is acknowledged once the master has it (REDIS_WAIT_REPLICAS=0). */
  readonly durability?: SessionDurability | undefined;
  /** How long a copy of a user kept beside the sessions lives at most (user-copies.ts); default 12 h. */
  readonly userCopyTtlMs?: number | undefined;
}

const DEFAULT_COPY_TTL_MS = 12 * 3_600_000;

/** What every operation of one store uses. */
interface Store {
  readonly redis: RedisClient;
  /** Runs a write script (a defined one, or EVAL), waiting for replicas when asked to. */
  readonly write: Write;
  readonly keys: ReturnType<typeof sessionKeys>;
  readonly legacy: LegacySessions;
  readonly sessionMaxLifetimeMs: number;
  /**
   * The user's state must outlive every session that a request reading an older epoch could
   * still try to create or extend: as long as the longest session.
   */
  readonly stateTtl: string;
  readonly copyTtlMs: number;
  readonly copies: ReturnType<typeof createUserCopies>;
  /** Users whose sessions keepNewest is trimming now. */
  readonly trimming: Set<string>;
}

export function createSessionStore(
  redis: RedisClient,
  prefix: string,
  sessionMaxLifetimeMs: number,
  options: SessionStoreOptions = {},
): SessionStore {
  const { durability } = options;
  defineSessionScripts(redis, ...(durability === undefined ? [] : [durability.writer]));
  const writes = sessionWrites(redis, durability);
  const copyTtlMs = options.userCopyTtlMs ?? DEFAULT_COPY_TTL_MS;
  const store: Store = {
    redis,
    write: writes,
    keys: sessionKeys(prefix),
    legacy: options.legacy ?? noLegacySessions,
    sessionMaxLifetimeMs,
    stateTtl: String(sessionMaxLifetimeMs),
    copyTtlMs,
    copies: createUserCopies(redis, writes, prefix, { copyTtlMs, stateTtlMs: sessionMaxLifetimeMs }),
    trimming: new Set(),
  };
  const { keys, legacy, write, stateTtl, copies } = store;
  return {
    ...copies,
    create: (session) => redisCall(redis, () => createSession(store, session)),
    lookup: (userId, sessionId) => redisCall(redis, () => lookupSession(store, userId, sessionId)),
    legacyOwner: (sessionId) => redisCall(redis, () => legacy.ownerOf(sessionId)),
    rotate: (request) => redisCall(redis, () => rotateSession(store, request)),
    list: (userId, now) => redisCall(redis, () => listSessions(store, userId, now)),
    touch: (userId, sessionId, now, idleTtlMs, epoch) =>
      redisCall(redis, () => touchSession(store, userId, sessionId, now, idleTtlMs, epoch)),
    isActive: (userId, sessionId) =>
      redisCall(redis, async () => {
        if ((await redis.exists(keys.session(userId, sessionId))) === 1) return true;
        // Only on the inactive path, and only while sessions of the old layout may remain.
        return legacy.active && (await legacy.adopt(sessionId, userId)) !== null;
      }),
    isUserDisabled: (userId) => redisCall(redis, async () => (await redis.hexists(keys.state(userId), "d")) === 1),
    revoke: (userId, sessionId) => redisCall(redis, () => revokeSession(store, userId, sessionId)),
    keepNewest: (userId, max, keep) => redisCall(redis, () => keepNewest(store, userId, max, keep)),
    endAccess: (userId, change) => redisCall(redis, () => endAccess(store, userId, change)),
    restoreAccess: (userId, epoch) =>
      redisCall(redis, async () => {
        await write("authRestoreAccess", keys.state(userId), String(epoch), stateTtl);
        await copies.userChanged(userId);
      }),
  };
}

async function createSession({ redis, write, keys, sessionMaxLifetimeMs, copyTtlMs }: Store, session: NewSession): Promise<CreateOutcome> {
  const fields: string[] = [
    "u",
    session.userId,
    "t",
    session.tenant,
    "c",
    session.secretHash,
    "ca",
    String(session.createdAt),
    "lu",
    String(session.createdAt),
    "ae",
    String(session.absoluteExpiresAt),
    "ep",
    String(session.epoch),
    "am",
    session.amr.join(" "),
  ];
  if (session.ip !== undefined) fields.push("ip", session.ip);
  if (session.userAgent !== undefined) fields.push("ua", session.userAgent.slice(0, 512));
  const { userId, keepCopy } = session;
  // The sample of the index the script prunes: its keys must be named in KEYS (session-scripts.ts).
  // The stand-in answers null for a missing set where Redis answers [].
  const sample = ((await redis.srandmember(keys.index(userId), CREATE_SAMPLE_KEYS)) as string[] | null) ?? [];
  const sampleKeys = Array.from({ length: CREATE_SAMPLE_KEYS }, (_, i) => {
    const id = sample[i];
    return id === undefined ? keys.index(userId) : keys.session(userId, id);
  });
  const outcome = await write(
    "authCreate",
    keys.session(userId, session.id),
    keys.index(userId),
    keys.state(userId),
    keys.userCopy(userId),
    ...sampleKeys,
    session.id,
    String(session.epoch),
    String(session.idleTtlMs),
    String(sessionMaxLifetimeMs),
    keepCopy === undefined ? "" : encodeUserCopy({ user: keepCopy.user, tenantGeneration: keepCopy.marks.tenantGeneration }),
    keepCopy?.marks.userChange ?? "",
    String(copyTtlMs),
    String(sample.length),
    ...sample,
    ...fields,
  );
  if (outcome !== "created" && outcome !== "stale" && outcome !== "disabled") {
    throw new Error(`unexpected reply from the create script: ${outcome}`);
  }
  return outcome;
}

async function rotateSession({ write, keys, copyTtlMs }: Store, request: RotateRequest): Promise<RotateOutcome> {
  return rotateOutcome((await write("authRotate", ...rotateArguments(keys, request, copyTtlMs))) as RotateReply);
}

async function listSessions({ redis, keys, legacy }: Store, userId: string, now: number): Promise<SessionInfo[]> {
  if (legacy.active) await legacy.adoptUser(userId);
  const ids = await redis.smembers(keys.index(userId));
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hgetall(keys.session(userId, id)).pttl(keys.session(userId, id));
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
}

/** One round of the end-access script over `ids`; returns how many ended and the unlisted ids. */
async function endAccessRound(
  { write, keys, stateTtl }: Store,
  userId: string,
  change: AccessEnd,
  ids: readonly string[],
): Promise<[number, string[]]> {
  const sessionKeysOfIds = ids.flatMap((id) => [keys.session(userId, id), keys.successor(userId, id)]);
  // EVAL rather than a defined command: its number of keys varies, which ioredis-mock's defined
  // commands do not support. It runs only when a user's access ends, so resending the script is cheap.
  const reply = (await write(
    "eval",
    endAccessScript,
    2 + sessionKeysOfIds.length,
    keys.state(userId),
    keys.index(userId),
    ...sessionKeysOfIds,
    String(change.epoch),
    change.keepSessionId ?? "",
    change.disablesUser ? "1" : "",
    stateTtl,
    ...ids,
  )) as [number, string];
  const [ended, unlisted] = reply;
  return [Number(ended), String(unlisted ?? "") === "" ? [] : String(unlisted).split(",")];
}

async function lookupSession({ redis, keys }: Store, userId: string, sessionId: string) {
  // Disabled: only when the disable ended this very session (its mark), so that a token made up
  // for a user id (a legacy profile's secret can sign one) tells nothing (session-scripts.ts).
  const results =
    (await redis.multi().hmget(keys.session(userId, sessionId), "t", "am").hexists(keys.state(userId), `x${sessionId}`).exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  // No legacy fallback here: a refresh token naming its user was issued in this layout, and
  // one of the earlier shape found its session through legacyOwner, which moved it.
  const [tenant, amr] = (results[0]?.[1] as (string | null)[] | undefined) ?? [];
  return {
    tenant: typeof tenant === "string" ? tenant : null,
    userDisabled: results[1]?.[1] === 1,
    // Sessions from before second factors were all signed in by password.
    amr: typeof tenant !== "string" ? [] : typeof amr === "string" && amr !== "" ? amr.split(" ") : ["pwd"],
  };
}

async function touchSession({ write, keys }: Store, userId: string, sessionId: string, now: number, idleTtlMs: number, epoch: number) {
  const reply = await write(
    "authTouch",
    keys.session(userId, sessionId),
    keys.state(userId),
    String(now),
    String(idleTtlMs),
    String(epoch),
  );
  const ttl = reply === null || reply === undefined ? -1 : Number(reply);
  if (ttl === -2) return "stale";
  return ttl < 0 ? null : ttl;
}

async function revokeSession({ write, keys, legacy }: Store, userId: string, sessionId: string): Promise<boolean> {
  const revoke = async () =>
    Number(await write("authRevoke", keys.session(userId, sessionId), keys.successor(userId, sessionId), keys.index(userId), sessionId)) ===
    1;
  if (await revoke()) return true;
  // Not in this layout: while old sessions may remain, it may be one of them.
  return legacy.active && (await legacy.adopt(sessionId, userId)) !== null && (await revoke());
}

/** Reads and revokes sent at once by keepNewest (ioredis writes them back to back: one round trip each batch). */
const TRIM_BATCH = 200;
/** Sessions one keepNewest ends at most (a user listed with 100,000 from before the limit is trimmed over several sign-ins). */
const TRIM_MAX = 2000;

/**
 * Over `max`, ends the oldest of the user's sessions beyond the newest `keep` (each as a revoke;
 * at most TRIM_MAX), and drops the index's ids whose sessions are gone. One SCARD when under the
 * limit (the index may list gone sessions too: only then are they read). One trim per user at a
 * time in this process; two processes racing may end one more than needed.
 */
async function keepNewest(store: Store, userId: string, max: number, keep: number): Promise<number> {
  const { redis, keys, trimming } = store;
  if (trimming.has(userId) || (await redis.scard(keys.index(userId))) <= max) return 0;
  trimming.add(userId);
  try {
    const ids = await redis.smembers(keys.index(userId));
    const live: { id: string; at: number }[] = [];
    const gone: string[] = [];
    for (let i = 0; i < ids.length; i += TRIM_BATCH) {
      const batch = ids.slice(i, i + TRIM_BATCH);
      const started = await Promise.all(batch.map((id) => redis.hget(keys.session(userId, id), "ca")));
      batch.forEach((id, j) => {
        const at = started[j];
        if (typeof at === "string") live.push({ id, at: Number(at) });
        else gone.push(id);
      });
    }
    for (let i = 0; i < gone.length; i += TRIM_BATCH) await redis.srem(keys.index(userId), ...gone.slice(i, i + TRIM_BATCH));
    if (live.length <= max) return 0;
    live.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
    const oldest = live.slice(0, Math.min(TRIM_MAX, live.length - Math.min(keep, max)));
    let ended = 0;
    for (let i = 0; i < oldest.length; i += TRIM_BATCH) {
      const results = await Promise.all(oldest.slice(i, i + TRIM_BATCH).map(({ id }) => revokeSession(store, userId, id)));
      ended += results.filter(Boolean).length;
    }
    return ended;
  } finally {
    trimming.delete(userId);
  }
}

/** Ends the user's sessions resting on an epoch older than the change's, in up to two rounds. */
async function endAccess(store: Store, userId: string, change: AccessEnd): Promise<number> {
  const { redis, keys, legacy } = store;
  if (legacy.active) await legacy.adoptUser(userId);
  // Round one records the epoch, so no session resting on an older one can be created
  // after it; sessions created between SMEMBERS and round one come back unlisted and are
  // judged in round two. Anything newer rests on the new epoch and stays.
  const [endedFirst, unlisted] = await endAccessRound(store, userId, change, await redis.smembers(keys.index(userId)));
  const [endedSecond] = unlisted.length === 0 ? [0] : await endAccessRound(store, userId, change, unlisted);
  // The user changed (a password, the active flag, deleted): no copy of before is kept.
  await store.copies.userChanged(userId);
  return endedFirst + endedSecond;
}
