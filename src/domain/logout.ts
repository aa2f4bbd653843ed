/** Logout: ends the caller's session, or all of the caller's sessions. */
import { authenticate } from "./authenticate.js";
import { AuthError } from "./errors.js";
import type { AccessClaims, RequestContext } from "./model.js";
import type { AuthDeps } from "./ports.js";

export async function logout(deps: AuthDeps, ctx: RequestContext, input: { readonly allSessions: boolean }): Promise<number> {
  const claims = await authenticate(deps, ctx);
  const ended = input.allSessions
    ? await logoutEverywhere(deps, claims)
    : Number(await deps.sessions.revoke(claims.userId, claims.sessionId));
  await deps.events.record({
    type: "logout",
    tenant: claims.tenant,
    userId: claims.userId,
    sessionId: claims.sessionId,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    detail: { allSessions: input.allSessions, sessionsEnded: ended },
  });
  return ended;
}

/**
 * Ends every session of the user, and keeps any request that read the user before this from
 * starting or extending one afterwards: a new session epoch in PostgreSQL, then Redis (see
 * session-epoch.ts).
 */
async function logoutEverywhere(deps: AuthDeps, claims: AccessClaims): Promise<number> {
  const epoch = await deps.users.raiseSessionEpoch(claims.userId);
  if (epoch === null) {
    // The user is gone: nothing can start a session for them any more.
    await deps.sessions.revoke(claims.userId, claims.sessionId);
    throw new AuthError("SESSION_REVOKED");
  }
  return deps.sessions.endAccess(claims.userId, { epoch });
}
