/**
 * The Redis key layout of sessions, in one place.
 *
 * Every key of a user's sessions carries the user's id as its Redis Cluster hash tag, so that each
 * operation on them (a Lua script, a MULTI, a pipeline) touches one slot, and each token carries
 * what finds its keys without a scan: access tokens name the user (`sub`) and the session (`sid`),
 * refresh tokens start with the user (see domain/refresh-token.ts).
 *
 * - `<prefix>{<user>}:s:<session>`: the session, a hash: u user, t tenant, c current secret hash,
 *   p previous secret hash, pu previous-valid-until (ms), o older hashes (comma-separated),
 *   ca created, lu last used, ae absolute expiry (ms), ep the session epoch it rests on, am how
 *   the user signed in (the `amr` values, space-separated; absent on sessions from before second
 *   factors, which mean `pwd`), ip, ua. Its TTL is the idle lifetime, capped by `ae`.
 * - `<prefix>{<user>}:n:<session>`: the sealed successor of the previous secret, living only for
 *   the grace window.
 * - `<prefix>{<user>}:idx`: a set of the user's session ids (may hold ids of expired sessions;
 *   each login checks a random sample and drops the dead ones).
 * - `<prefix>{<user>}:st`: the user's state, a hash: e the highest session epoch recorded (see
 *   domain/session-epoch.ts), d the epoch of the change that disabled the user (absent when
 *   enabled), x<session id> for each session the disable ended (only a token of one of them is
 *   told ACCOUNT_DISABLED; cleared by the enable), uc a random mark replaced by every change to the
 *   user (user-copies.ts). It lives as long as the longest session could, and for ever while `d`
 *   is set.
 * - `<prefix>{<user>}:u`: the copy of the user Refresh reads (user-copies.ts), a string; it lives
 *   SESSION_USER_TTL at most.
 * - `<prefix>{t:<tenant>}:g`: the tenant's generation, a random string replaced by every change to
 *   its roles or policy; created with a new random string by the first read that finds it missing
 *   (user-copies.ts), so a lost key matches no copy; no expiry.
 * - `<prefix>{<user>}:mfa:<hash>`: an MFA ticket (see infra/redis/mfa-tickets.ts), JSON, living
 *   as long as the ticket.
 *
 * The layout before 2026-11-25 (`s:{<session>}`, `n:{<session>}`, `u:{<user>}`: a session and its
 * user's index in two slots) is moved to this one by legacy-sessions.ts.
 */

export interface SessionKeys {
  session(userId: string, sessionId: string): string;
  successor(userId: string, sessionId: string): string;
  index(userId: string): string;
  state(userId: string): string;
  mfaTicket(userId: string, ticketHash: string): string;
  userCopy(userId: string): string;
  tenantGeneration(tenant: string): string;
}

/** A hash tag ends at the first `}`: a brace in the prefix or an id would move keys to other slots. */
function checkTagFree(what: string, value: string): void {
  if (value.includes("{") || value.includes("}")) throw new Error(`${what} must not contain '{' or '}': ${JSON.stringify(value)}`);
}

export function sessionKeys(prefix: string): SessionKeys {
  checkTagFree("REDIS_KEY_PREFIX", prefix);
  const user = (userId: string) => {
    checkTagFree("a user id", userId);
    return `${prefix}{${userId}}`;
  };
  return {
    session: (userId, sessionId) => `${user(userId)}:s:${sessionId}`,
    successor: (userId, sessionId) => `${user(userId)}:n:${sessionId}`,
    index: (userId) => `${user(userId)}:idx`,
    state: (userId) => `${user(userId)}:st`,
    mfaTicket: (userId, ticketHash) => `${user(userId)}:mfa:${ticketHash}`,
    userCopy: (userId) => `${user(userId)}:u`,
    tenantGeneration: (tenant) => {
      checkTagFree("a tenant id", tenant);
      return `${prefix}{t:${tenant}}:g`;
    },
  };
}
